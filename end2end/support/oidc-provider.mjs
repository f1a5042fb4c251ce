// A real OpenID Connect provider for the portal's tests: node-oidc-provider
// with one confidential client, PKCE (S256) required and the email claims in
// the ID token. Account ids are what is typed at the login prompt: an email
// address, or a name that becomes {name}@lindenhof-clinic.example. Addresses
// starting with "unverified" come back with email_verified = false.
//
// Environment: OIDC_PORT, OIDC_REDIRECT_URIS (comma-separated),
// OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, and OIDC_AUTO_LOGIN=1 to finish the
// login prompt from the request's login_hint (tests without a browser).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 4455);
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = (process.env.OIDC_REDIRECT_URIS || 'http://127.0.0.1:3000/auth/oidc/callback').split(',');
const clientId = process.env.OIDC_CLIENT_ID || 'portal';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'portal-secret';
const autoLogin = process.env.OIDC_AUTO_LOGIN === '1';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-signing-key', alg: 'RS256', use: 'sig' };

function account(id) {
  const email = id.includes('@') ? id.toLowerCase() : `${id.toLowerCase()}@lindenhof-clinic.example`;
  return {
    accountId: id,
    async claims() {
      return { sub: id, email, email_verified: !email.startsWith('unverified') };
    },
  };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['portal-tests-cookie-key-1', 'portal-tests-cookie-key-2'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: !autoLogin } },
  pkce: { required: () => true },
  ttl: { IdToken: 60, AccessToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
  async findAccount(ctx, id) {
    return account(id);
  },
  // A first-party client: consent is implied for what it asks.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email');
    await grant.save();
    return grant;
  },
});

const handle = provider.callback();
const server = http.createServer(async (req, res) => {
  if (autoLogin && req.url.startsWith('/interaction/')) {
    try {
      const details = await provider.interactionDetails(req, res);
      const hint = details.params.login_hint;
      if (!hint) {
        res.statusCode = 400;
        res.end('login_hint is required in automatic mode');
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: hint } }, { mergeWithLastSubmission: false });
    } catch (error) {
      res.statusCode = 500;
      res.end(String(error));
    }
    return;
  }
  handle(req, res);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
