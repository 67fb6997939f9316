// Opens PAGE_URL in Debian's Chromium (headless, through playwright-core), waits for the page's
// `window.results` and prints them as JSON. Run with NODE_PATH set to scripts/browser-env's
// output:
//   NODE_PATH=$(scripts/browser-env) node tests/browser/drive.cjs PAGE_URL
const { chromium } = require("playwright-core");

async function main(pageUrl) {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: ["--no-sandbox"],
  });
  try {
    const page = await browser.newPage();
    page.on("console", (message) => console.error(`page: ${message.text()}`));
    page.on("pageerror", (error) => console.error(`page error: ${error}`));
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.results !== undefined, null, { timeout: 30000 });
    console.log(JSON.stringify(await page.evaluate(() => window.results)));
  } finally {
    await browser.close();
  }
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exit(1);
});
