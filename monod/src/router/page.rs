//! The router's own pages: the list of environments and their URLs (for a
//! name that leads nowhere), and what went wrong when a service does not
//! answer. Small, static HTML; every name is escaped.

use std::fmt::Write;

use super::table::{Table, urls};

/// The page listing every environment and its URLs, headed by `why`.
pub fn listing(table: &Table, port: u16, why: &str) -> String {
    let mut body = format!("<p>{}</p>\n", escape(why));
    let mut any = false;
    for (name, routes) in table.iter() {
        any = true;
        let _ = writeln!(body, "<h2>{}</h2>\n<ul>", escape(name));
        let listed = urls(name, routes, port);
        if listed.is_empty() {
            body.push_str("<li>no service with a published port</li>\n");
        }
        for u in listed {
            let label = u.service.unwrap_or_else(|| "(entry point)".to_string());
            let _ = writeln!(
                body,
                "<li><a href=\"{url}\">{url}</a> {} &rarr; 127.0.0.1:{}</li>",
                escape(&label),
                u.port,
                url = escape(&u.url)
            );
        }
        body.push_str("</ul>\n");
    }
    if !any {
        body.push_str("<p>No environments: <code>mono init</code> in a workspace makes one.</p>\n");
    }
    html("mono environments", &body)
}

/// A page that says one thing.
pub fn message(title: &str, text: &str) -> String {
    html(title, &format!("<p>{}</p>\n", escape(text)))
}

fn html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\n\
         <body style=\"font-family: system-ui, sans-serif; max-width: 50em; margin: 2em auto\">\n\
         <h1>{t}</h1>\n{body}</body></html>\n",
        t = escape(title)
    )
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_an_empty_table_says_how_to_make_one() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let page = listing(&Table::default(), 19000, "no environment <x>");
        assert!(page.contains("no environment &lt;x&gt;") && page.contains("mono init"), "{page}");
    }
}
