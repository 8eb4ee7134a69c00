//! `${NAME}` in a config file stands for the environment variable NAME, so
//! credentials can come from mounted Secrets instead of the file itself
//! (`token: ${FLOE_CATALOG_TOKEN}`). `$${` writes a literal `${`.

use crate::error::{Location, Problem};

/// The text with every `${NAME}` replaced by `lookup(NAME)`. Comment lines
/// are left as they are.
pub(crate) fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Problem> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("${") {
            if rest[..at].ends_with('$') {
                out.push_str(&rest[..at - 1]);
                out.push_str("${");
                rest = &rest[at + 2..];
                continue;
            }
            out.push_str(&rest[..at]);
            let location = Location { line: index + 1, column: line.len() - rest.len() + at + 1 };
            let Some(end) = rest[at..].find('}') else {
                return Err(Problem::Syntax {
                    message: "`${` without a closing `}`: write ${NAME} for an environment variable, $${ for `${`"
                        .into(),
                    location: Some(location),
                });
            };
            let name = &rest[at + 2..at + end];
            let value = lookup(name).ok_or_else(|| Problem::UnsetVariable { name: name.to_string(), location })?;
            out.push_str(&value);
            rest = &rest[at + end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn replaces_variables_and_keeps_escapes_and_comments() {
        let text = "a: ${TOKEN}\n# b: ${MISSING}\nc: x$${TOKEN}y\n";
        assert_eq!(expand(text, env).unwrap(), "a: s3cr3t\n# b: ${MISSING}\nc: x${TOKEN}y\n");
    }

    #[test]
    fn an_unset_variable_names_itself_and_its_place() {
        let error = expand("a: 1\nb:\n  token: ${FLOE_TOKEN}\n", env).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable FLOE_TOKEN (line 3, column 10) is not set: set it, or write the value in the file"
        );
    }
}
