//! How SCA hands a `c:` rule to the system, and the `sh -c` scripts policies use.
//!
//! Wazuh runs a command rule without a shell: `w_strtok` splits it on spaces, a double quote
//! toggles quoting and a backslash takes the next character literally; single quotes, globs and
//! `|` are plain characters. [`sca_argv`] reproduces that split. A policy that needs a pipeline
//! calls `sh -c "SCRIPT"`; [`script_commands`] splits such a script into the commands that run
//! (`A & B`, `A; B`), each a pipeline for `crate::query` to parse.

/// Splits a command rule the way Wazuh's `w_strtok` does.
pub(super) fn sca_argv(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut quoting = false;
    let mut chars = s.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' if !quoting => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            '"' => {
                quoting = !quoting;
                have = true;
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                have = true;
            }
            c => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        out.push(cur);
    }
    out
}

/// The commands of a `sh -c` script, in order, and whether they are joined by `&`/`;` (both run,
/// whatever the first one's status). `&&`, `||`, redirections and substitutions are refused.
pub(super) fn script_commands(script: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some('"'), '\\') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '\\') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, '&' | ';') => {
                if c == '&' && chars.peek() == Some(&'&') {
                    return Err("the script runs a command only if another succeeds (`&&`)".into());
                }
                parts.push(std::mem::take(&mut cur));
            }
            (None, '|') if chars.peek() == Some(&'|') => {
                return Err("the script runs a command only if another fails (`||`)".into());
            }
            (None, '>' | '<') => return Err("the script redirects output".into()),
            (None, '$' | '`') => return Err("the script expands variables or commands".into()),
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err("unterminated quote in the script".into());
    }
    parts.push(cur);
    let parts: Vec<String> = parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err("empty script".into());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wazuh_splits_on_spaces_double_quotes_and_backslashes() {
        assert_eq!(
            sca_argv(r#"stat -Lc "%n %a" /etc/passwd"#),
            ["stat", "-Lc", "%n %a", "/etc/passwd"]
        );
        assert_eq!(
            sca_argv(r#"sh -c "cut -f3 -d\":\" /etc/passwd | sort""#),
            ["sh", "-c", r#"cut -f3 -d":" /etc/passwd | sort"#]
        );
        // Single quotes are not special without a shell.
        assert_eq!(
            sca_argv("find / -name '*.conf'"),
            ["find", "/", "-name", "'*.conf'"]
        );
        assert_eq!(
            sca_argv(r#"sh -c "find /var/log -exec ls -l "{}" +""#),
            ["sh", "-c", "find /var/log -exec ls -l {} +"]
        );
        assert_eq!(
            sca_argv(r"find \( -name x \)"),
            ["find", "(", "-name", "x", ")"]
        );
    }

    #[test]
    fn scripts_split_into_commands() {
        assert_eq!(
            script_commands("systemctl is-enabled a b & systemctl is-active a b").expect("list"),
            ["systemctl is-enabled a b", "systemctl is-active a b"]
        );
        assert_eq!(
            script_commands("find /etc -exec stat {} \\; | grep x").expect("escaped ;"),
            ["find /etc -exec stat {} \\; | grep x"]
        );
        assert_eq!(
            script_commands("grep -E 'a;b|c' /f").expect("quoted"),
            ["grep -E 'a;b|c' /f"]
        );
        for bad in ["a && b", "a || b", "a > /tmp/x", "echo $HOME", "a 'b"] {
            assert!(script_commands(bad).is_err(), "{bad}");
        }
    }
}
