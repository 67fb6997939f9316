//! Proto names from Rust names, by the protobuf style guide.

/// `calc_stream` -> `CalcStream`.
pub(crate) fn upper_camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect()
}

/// `HttpStatus` -> `HTTP_STATUS`, `KeyLimitExceeded` -> `KEY_LIMIT_EXCEEDED`.
pub(crate) fn upper_snake(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::new();
    for (index, &c) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| chars[i]);
        let next = chars.get(index + 1);
        let starts_word = c.is_uppercase()
            && previous.is_some_and(|p| {
                p.is_lowercase() || p.is_ascii_digit() || next.is_some_and(|n| n.is_lowercase())
            })
            && previous != Some('_');
        if starts_word {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The identifier without a raw prefix: `r#type` -> `type`.
pub(crate) fn unraw(ident: &syn::Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_like_the_style_guide() {
        assert_eq!(upper_camel("calc_stream"), "CalcStream");
        assert_eq!(upper_camel("say_hello"), "SayHello");
        assert_eq!(upper_camel("get_by_token"), "GetByToken");
        assert_eq!(upper_snake("Red"), "RED");
        assert_eq!(upper_snake("KeyLimitExceeded"), "KEY_LIMIT_EXCEEDED");
        assert_eq!(upper_snake("HTTPStatus"), "HTTP_STATUS");
        assert_eq!(upper_snake("Ipv4Address"), "IPV4_ADDRESS");
    }
}
