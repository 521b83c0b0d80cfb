// OpenID Connect provider for integration tests, configured from the environment.
// See tests/support/oidc_provider.py for the Python side that starts it.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`missing required environment variable ${name}`);
    process.exit(2);
  }
  return value;
};

// Keyed by the login name typed on the sign-in form.
const accounts = JSON.parse(env('OIDC_ACCOUNTS', '{}'));
const accountsBySub = new Map(Object.values(accounts).map((a) => [String(a.sub), a]));

function loadJwks() {
  if (process.env.OIDC_JWKS) {
    return JSON.parse(readFileSync(process.env.OIDC_JWKS, 'utf8'));
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `generated-${randomBytes(8).toString('hex')}`;
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }] };
}

// Listen first so that OIDC_PORT=0 can take a free port without a race; the
// issuer must contain the real port.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(env('OIDC_PORT')), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('OIDC_CLIENT_ID'),
    client_secret: env('OIDC_CLIENT_SECRET'),
    redirect_uris: env('OIDC_REDIRECT_URIS').split(',').map((u) => u.trim()).filter(Boolean),
    response_types: ['code'],
    grant_types: ['authorization_code'],
    // A client registered for client_secret_basic is also accepted with
    // client_secret_post (both are shared-secret methods in oidc-provider).
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  responseTypes: ['code'],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Put scope-derived claims in the ID token, not only in userinfo.
  conformIdTokenClaims: false,
  // Random per process: cookies are only meaningful for one provider run.
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: true } },
  jwks: loadJwks(),
  async findAccount(_ctx, sub) {
    const account = accountsBySub.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: account.email,
          email_verified: account.email_verified,
          name: account.name,
        };
      },
    };
  },
});

// The dev login form stores the typed login name as the account id, and the
// ID token's sub is always that account id. Translate login name -> sub here,
// and turn an unknown login name into access_denied back to the client.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (result?.login) {
    const account = Object.hasOwn(accounts, result.login.accountId)
      ? accounts[result.login.accountId] : undefined;
    if (!account) {
      return interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'unknown login name',
      }, { mergeWithLastSubmission: false });
    }
    result = { ...result, login: { ...result.login, accountId: String(account.sub) } };
  }
  return interactionFinished(req, res, result, options);
};

server.on('request', provider.callback());
console.log(`READY ${issuer}`);

function shutdown() {
  server.close(() => process.exit(0));
  // Idle keep-alive connections would otherwise hold close() open.
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
