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

/// A one-time sign-in link.
#[derive(Debug, Clone)]
pub struct LoginLink {
    pub link: String,
    pub minutes: i64,
}

impl LoginLink {
    fn subject_line(&self) -> String {
        "Your sign-in link for the Clinic Privacy Portal".to_owned()
    }
}

email_templates!(
    LoginLink,
    "login_link",
    LoginLinkText = "emails/login_link.txt",
    LoginLinkHtml = "emails/login_link.html"
);

/// An invitation to join a clinic's team.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub clinic_name: String,
    pub inviter: String,
    pub role: String,
    pub link: String,
    pub days: i64,
}

impl Invitation {
    fn subject_line(&self) -> String {
        format!(
            "You are invited to {} on the Clinic Privacy Portal",
            self.clinic_name
        )
    }
}

email_templates!(
    Invitation,
    "invitation",
    InvitationText = "emails/invitation.txt",
    InvitationHtml = "emails/invitation.html"
);

/// The link that confirms a privacy request, in the requester's language.
#[derive(Debug, Clone)]
pub struct RequestVerification {
    pub clinic: String,
    pub subject: String,
    pub intro: String,
    pub button: String,
    pub ignore: String,
    pub link: String,
}

impl RequestVerification {
    fn subject_line(&self) -> String {
        self.subject.clone()
    }
}

email_templates!(
    RequestVerification,
    "request_verification",
    RequestVerificationText = "emails/link.txt",
    RequestVerificationHtml = "emails/link.html"
);

/// A link to a patient's consents, in their language.
#[derive(Debug, Clone)]
pub struct ConsentLink {
    pub clinic: String,
    pub subject: String,
    pub intro: String,
    pub button: String,
    pub ignore: String,
    pub link: String,
}

impl ConsentLink {
    fn subject_line(&self) -> String {
        self.subject.clone()
    }
}

email_templates!(
    ConsentLink,
    "consent_link",
    ConsentLinkText = "emails/link.txt",
    ConsentLinkHtml = "emails/link.html"
);

/// News about a privacy request for its requester, in their language, with
/// the private status link.
#[derive(Debug, Clone)]
pub struct RequestUpdate {
    pub clinic: String,
    pub reference: String,
    pub subject: String,
    pub paragraphs: Vec<String>,
    pub link_intro: String,
    pub link: String,
}

impl RequestUpdate {
    fn subject_line(&self) -> String {
        self.subject.clone()
    }
}

email_templates!(
    RequestUpdate,
    "request_update",
    RequestUpdateText = "emails/request_update.txt",
    RequestUpdateHtml = "emails/request_update.html"
);

/// A deadline reminder for the staff member a request is assigned to.
#[derive(Debug, Clone)]
pub struct RequestReminder {
    pub headline: String,
    pub reference: String,
    pub kind: String,
    pub clinic: String,
    pub due: String,
    pub link: String,
}

impl RequestReminder {
    fn subject_line(&self) -> String {
        format!("{}: {}", self.headline, self.reference)
    }
}

email_templates!(
    RequestReminder,
    "request_reminder",
    RequestReminderText = "emails/request_reminder.txt",
    RequestReminderHtml = "emails/request_reminder.html"
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

    #[test]
    fn sign_in_and_invitation_messages_carry_their_links() {
        let login = LoginLink {
            link: "https://p.example/auth/link/abc".into(),
            minutes: 15,
        };
        assert!(
            login
                .render_text()
                .expect("text")
                .contains("https://p.example/auth/link/abc")
        );
        assert!(login.render_html().expect("html").contains("15 minutes"));
        let invite = Invitation {
            clinic_name: "North <Clinic>".into(),
            inviter: "Anna".into(),
            role: "Privacy Officer".into(),
            link: "https://p.example/invite/xyz".into(),
            days: 7,
        };
        assert_eq!(
            invite.subject(),
            "You are invited to North <Clinic> on the Clinic Privacy Portal"
        );
        let html = invite.render_html().expect("html");
        assert!(!html.contains("North <Clinic>"), "escaped in HTML");
        assert!(
            invite
                .render_text()
                .expect("text")
                .contains("Privacy Officer")
        );
    }
}

/// The paragraphs of a plain-text summary (separated by blank lines).
fn paragraphs(text: &str) -> Vec<&str> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Advance notice of a material change to a publisher's document.
#[derive(Debug, Clone)]
pub struct PolicyChangeNotice {
    pub publisher: String,
    /// The kind of document, e.g. "privacy notice".
    pub document: String,
    pub version_title: String,
    pub number: i32,
    pub summary: String,
    pub effective_date: String,
    pub version_url: String,
    pub diff_url: String,
    pub unsubscribe_url: String,
    /// Set for a clinic contact, who gets the notice as a duty to the
    /// clinic: where to choose another address or role, instead of an
    /// unsubscribe link.
    pub contacts_url: Option<String>,
}

impl PolicyChangeNotice {
    fn subject_line(&self) -> String {
        format!(
            "{}: changes to the {} from {}",
            self.publisher, self.document, self.effective_date
        )
    }

    fn summary_paragraphs(&self) -> Vec<&str> {
        paragraphs(&self.summary)
    }
}

email_templates!(
    PolicyChangeNotice,
    "policy_change",
    PolicyChangeNoticeText = "emails/policy_change.txt",
    PolicyChangeNoticeHtml = "emails/policy_change.html"
);

/// Double opt-in for change notices.
#[derive(Debug, Clone)]
pub struct SubscriptionConfirm {
    pub publisher: String,
    pub link: String,
    pub hours: i64,
}

impl SubscriptionConfirm {
    fn subject_line(&self) -> String {
        format!(
            "Confirm your subscription to {}'s policy updates",
            self.publisher
        )
    }
}

email_templates!(
    SubscriptionConfirm,
    "subscription_confirm",
    SubscriptionConfirmText = "emails/subscription_confirm.txt",
    SubscriptionConfirmHtml = "emails/subscription_confirm.html"
);

/// Advance notice of a change to a publisher's sub-processors.
#[derive(Debug, Clone)]
pub struct SubprocessorChangeNotice {
    pub publisher: String,
    /// What the change does, in one line.
    pub headline: String,
    /// "New sub-processor", "Replacement" or "Retirement".
    pub kind: String,
    pub legal_name: String,
    pub service: String,
    pub purpose: String,
    pub categories: String,
    pub countries: String,
    pub safeguard: String,
    pub summary: String,
    pub effective_date: String,
    /// For the platform's changes, which clinics may object to.
    pub objection_deadline: Option<String>,
    pub change_url: String,
    /// Where a clinic's admin objects (platform changes only).
    pub object_url: Option<String>,
    pub unsubscribe_url: String,
    /// Set for a clinic contact, who gets the notice under GDPR Art. 28(2):
    /// where to choose another address or role, instead of an unsubscribe
    /// link.
    pub contacts_url: Option<String>,
}

impl SubprocessorChangeNotice {
    fn subject_line(&self) -> String {
        format!(
            "{}: sub-processor change from {}",
            self.publisher, self.effective_date
        )
    }

    fn summary_paragraphs(&self) -> Vec<&str> {
        paragraphs(&self.summary)
    }
}

email_templates!(
    SubprocessorChangeNotice,
    "subprocessor_change",
    SubprocessorChangeNoticeText = "emails/subprocessor_change.txt",
    SubprocessorChangeNoticeHtml = "emails/subprocessor_change.html"
);

/// The operator's answer to a clinic's objection.
#[derive(Debug, Clone)]
pub struct ObjectionResolved {
    pub publisher: String,
    pub clinic: String,
    /// The change objected to, in one line.
    pub headline: String,
    pub reason: String,
    pub resolution: String,
    pub url: String,
}

impl ObjectionResolved {
    fn subject_line(&self) -> String {
        format!(
            "{}: answer to {}'s objection to a sub-processor change",
            self.publisher, self.clinic
        )
    }
}

email_templates!(
    ObjectionResolved,
    "objection_resolved",
    ObjectionResolvedText = "emails/objection_resolved.txt",
    ObjectionResolvedHtml = "emails/objection_resolved.html"
);

/// To a clinic's owners and admins: the platform is closing the clinic's
/// account; the export is available until the data is deleted.
#[derive(Debug, Clone)]
pub struct OffboardingNotice {
    pub publisher: String,
    pub clinic: String,
    /// The date after which every record is deleted, e.g. "31 December 2026".
    pub delete_on: String,
    /// The export page.
    pub url: String,
}

impl OffboardingNotice {
    fn subject_line(&self) -> String {
        format!(
            "{}: {}'s account is closing; download your data before {}",
            self.publisher, self.clinic, self.delete_on
        )
    }
}

email_templates!(
    OffboardingNotice,
    "offboarding_notice",
    OffboardingNoticeText = "emails/offboarding_notice.txt",
    OffboardingNoticeHtml = "emails/offboarding_notice.html"
);
