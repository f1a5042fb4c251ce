# Shell
skip-to-content = Skip to main content
brand-name = Clinic Privacy Portal
nav-label = Main
nav-home = Home
nav-sign-in = Sign in
nav-privacy = Privacy notice
language-label = Language
footer-tagline = Privacy operations for clinics and the platform that serves them.
footer-request-id = Request id: { $id }

# Home
home-title = Privacy operations for clinics
home-lead = One place where a health-tech platform and its clinics publish privacy notices, keep the sub-processor list, record consent and answer patients' privacy requests on time.
home-for-patients = For patients
home-for-patients-body = Read a clinic's privacy notice, see who processes your data, and exercise your rights with a simple web form.
home-for-clinics = For clinics
home-for-clinics-body = Handle privacy requests within the legal deadline, keep notices and consent settings current, and prove every step with an audit trail.
home-for-platform = For the platform
home-for-platform-body = Announce policy and sub-processor changes in advance, collect objections, and onboard or offboard clinics cleanly.
home-demo = See the demo clinic's privacy page

# Clinic privacy page
privacy-title = Privacy notice of { $clinic }
privacy-no-notice = This clinic has not published its privacy notice in the portal yet. The contacts below can answer questions about your personal data in the meantime.
privacy-controller = Who is responsible for your data
privacy-controller-body = { $legal } is the controller of the personal data it holds about you.
privacy-contact = Privacy contact
privacy-dpo = Data protection officer
privacy-rights = Your rights
privacy-rights-body = You may ask for a copy of your data, its correction or erasure, restriction of or objection to its use, a portable export, or withdraw consent you gave. The clinic answers within { $deadline } of confirming your identity.
privacy-authority = Supervisory authority
privacy-authority-body = If you are not satisfied with the answer, you have the right to complain to { $authority }.
privacy-jurisdiction = Applicable law: { $law }

# Errors
not-found-title = Page not found
not-found-body = The page you asked for does not exist or is no longer available.
error-title = Something went wrong
error-body = We could not complete your request. Please try again; if the problem persists, contact support and quote the request id below.
error-back-home = Back to the home page
