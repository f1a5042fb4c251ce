//! One askama template pair per message type, under `app/templates/emails/`.

use askama::Template;

use super::EmailMessage;

/// Declares the text and HTML template structs of a message and implements
/// [`EmailMessage`] for it.
macro_rules! email_templates {
    ($message:ident, $name:literal, $text:ident = $text_path:literal, $html:ident = $html_path:literal) => {
        #[derive(Template)]
        #[template(path = $text_path)]
        struct $text<'a> {
            m: &'a $message,
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            m: &'a $message,
        }

        impl EmailMessage for $message {
            const TEMPLATE: &'static str = $name;
            fn subject(&self) -> String {
                self.subject_line()
            }
            fn render_text(&self) -> askama::Result<String> {
                $text { m: self }.render()
            }
            fn render_html(&self) -> askama::Result<String> {
                $html { m: self }.render()
            }
        }
    };
}

/// Confirms that the portal's mail settings deliver (`privacy-portal
/// send-test-email`).
#[derive(Debug, Clone)]
pub struct DeliveryCheck {
    pub portal_url: String,
    pub sent_at: String,
    pub transport: String,
}

impl DeliveryCheck {
    fn subject_line(&self) -> String {
        "Clinic Privacy Portal: email delivery check".to_owned()
    }
}

email_templates!(
    DeliveryCheck,
    "delivery_check",
    DeliveryCheckText = "emails/delivery_check.txt",
    DeliveryCheckHtml = "emails/delivery_check.html"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_check_renders_both_parts_and_escapes_html() {
        let message = DeliveryCheck {
            portal_url: "https://privacy.example.org".into(),
            sent_at: "2026-11-23 10:00 UTC".into(),
            transport: "<smtp>".into(),
        };
        let text = message.render_text().expect("text");
        let html = message.render_html().expect("html");
        assert!(text.contains("https://privacy.example.org"));
        assert!(text.contains("<smtp>"));
        assert!(
            html.contains("&#60;smtp&#62;") || html.contains("&lt;smtp&gt;"),
            "{html}"
        );
        assert!(!html.contains("<smtp>"));
        assert!(html.contains("href=\"https://privacy.example.org\""));
    }
}
