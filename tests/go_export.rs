//! The exports build in Go: protoc-gen-go and protoc-gen-go-grpc (Debian's packages, installed
//! by `scripts/go-env`) compile every example's `.proto` and the health and reflection services'
//! without `M` flags, since every export carries a `go_package` option.

mod support;

use std::path::Path;

use protoless::health::HealthServer;
use protoless::reflection::{v1, v1alpha};
use support::{example, python, root, succeeded};
use tokio::process::Command;

const EXAMPLES: [&str; 5] = ["greeter", "pi", "cache", "interop", "json_codec"];

/// Runs protoc (grpcio-tools') with the Go plugins on `file` in `dir`; returns the generated
/// files' names.
async fn compile_go(dir: &Path, file: &str) -> Vec<String> {
    let installed = std::process::Command::new(root().join("scripts/go-env"))
        .output()
        .expect("scripts/go-env runs");
    let plugins = succeeded("scripts/go-env", &installed).trim().to_owned();
    let out = dir.join("go");
    std::fs::create_dir_all(&out).unwrap();
    let output = Command::new(python())
        .args(["-m", "grpc_tools.protoc", "-I."])
        .arg(format!("--plugin=protoc-gen-go={plugins}/protoc-gen-go"))
        .arg(format!(
            "--plugin=protoc-gen-go-grpc={plugins}/protoc-gen-go-grpc"
        ))
        .args(["--go_out=go", "--go-grpc_out=go", file])
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    succeeded(&format!("protoc --go_out --go-grpc_out {file}"), &output);
    let mut generated = Vec::new();
    let mut pending = vec![out];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                generated.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    generated.sort();
    generated
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("protoless-go-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn protoc_gen_go_compiles_every_example_export() {
    for name in EXAMPLES {
        let output = Command::new(example(name))
            .arg("proto")
            .output()
            .await
            .unwrap();
        let proto = succeeded(&format!("{name} proto"), &output);
        let dir = scratch(name);
        std::fs::write(dir.join(format!("{name}.proto")), proto).unwrap();
        let generated = compile_go(&dir, &format!("{name}.proto")).await;
        assert_eq!(
            generated,
            [format!("{name}.pb.go"), format!("{name}_grpc.pb.go")],
            "{name}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test]
async fn protoc_gen_go_compiles_the_health_and_reflection_exports() {
    let dir = scratch("services");
    let written = protoless::schema::export(
        &dir,
        [
            HealthServer::schema(),
            v1::ServerReflectionServer::schema(),
            v1alpha::ServerReflectionServer::schema(),
        ],
    )
    .unwrap();
    for path in written {
        let file = path
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let generated = compile_go(&dir, &file).await;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let stem = name.trim_end_matches(".proto");
        assert!(
            generated.contains(&format!("{stem}.pb.go"))
                && generated.contains(&format!("{stem}_grpc.pb.go")),
            "{file}: {generated:?}"
        );
    }
    // Generated where grpc-go's own packages are: the standard files' go_package.
    assert!(dir
        .join("go/google.golang.org/grpc/health/grpc_health_v1/health.pb.go")
        .exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn protoc_gen_go_compiles_the_committed_exports_with_google_rpc() {
    // examples/proto as committed: one folder per package, google/rpc beside the cache's file.
    let dir = scratch("committed");
    let source = root().join("examples/proto");
    let mut files = Vec::new();
    let mut pending = vec![source.clone()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "proto")
            {
                let relative = path.strip_prefix(&source).unwrap().to_owned();
                std::fs::create_dir_all(dir.join(&relative).parent().unwrap()).unwrap();
                std::fs::copy(&path, dir.join(&relative)).unwrap();
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    assert!(
        files.contains(&"google/rpc/error_details.proto".to_owned()),
        "{files:?}"
    );
    for file in &files {
        compile_go(&dir, file).await;
    }
    let generated = dir.join("go/google.golang.org/genproto/googleapis/rpc");
    assert!(generated.join("errdetails/error_details.pb.go").exists());
    assert!(generated.join("status/status.pb.go").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
