// A real OpenID provider for the SSO tests: the certified `oidc-provider` package on loopback,
// with one client and an account store the tests fill in. It is a test tool: no UI, no
// persistence, and the two /_test and /interaction routes below exist only for the tests.
//
//   node server.mjs --port 0 --client-id ID --client-secret SECRET --callback-path PATH...
//
// prints "READY http://127.0.0.1:<port>" once it listens.
//
// - POST /_test/accounts  {"sub": "...", "email": ..., "email_verified": ..., "groups": [...]}
//   creates or replaces an account (its claims are read at every sign-in, so a test changes
//   someone's groups by posting them again).
// - GET /interaction/<uid> shows a one-field form; POST /interaction/<uid>/login with
//   login=<sub> signs that account in and grants what the client asked for, in one step
//   (a test has no one to click "allow").

import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'callback-path': { type: 'string', multiple: true },
    'logout-path': { type: 'string', default: '/accounts/login/' },
  },
});

const accounts = new Map();

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function start() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(Number(args.port), '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: args['client-id'],
        client_secret: args['client-secret'],
        // "native" lets the loopback redirect carry any port (RFC 8252, section 7.3): each
        // test Daphne listens on a port of its own.
        application_type: 'native',
        redirect_uris: args['callback-path'].map((path) => `http://127.0.0.1${path}`),
        post_logout_redirect_uris: [`http://127.0.0.1${args['logout-path']}`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    async findAccount(ctx, sub) {
      if (!accounts.has(sub)) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...accounts.get(sub) }) };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
    },
    cookies: { keys: ['oidc-test-provider-cookie-key-not-a-secret'] },
  });
  // Loopback over plain http: the provider would otherwise refuse to set secure cookies.
  provider.proxy = true;
  const oidc = provider.callback();

  server.on('request', async (req, res) => {
    try {
      const url = new URL(req.url, issuer);
      if (req.method === 'POST' && url.pathname === '/_test/accounts') {
        const { sub, ...claims } = JSON.parse(await readBody(req));
        accounts.set(sub, claims);
        res.writeHead(204).end();
        return;
      }
      const login = url.pathname.match(/^\/interaction\/([^/]+)\/login$/);
      if (req.method === 'POST' && login) {
        const form = new URLSearchParams(await readBody(req));
        const sub = form.get('login');
        const { prompt, params } = await provider.interactionDetails(req, res);
        if (!accounts.has(sub)) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`no account ${sub}`);
          return;
        }
        const grant = new provider.Grant({ accountId: sub, clientId: params.client_id });
        grant.addOIDCScope(String(params.scope));
        if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
        const grantId = await grant.save();
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: sub }, consent: { grantId } },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      const show = url.pathname.match(/^\/interaction\/([^/]+)$/);
      if (req.method === 'GET' && show) {
        await provider.interactionDetails(req, res); // 4xx for an unknown or expired one
        const action = `/interaction/${escapeHtml(show[1])}/login`;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          `<!doctype html><form method="post" action="${action}">` +
            '<input name="login"><button>Sign in</button></form>',
        );
        return;
      }
      oidc(req, res);
    } catch (error) {
      res.writeHead(error.statusCode || 500, { 'content-type': 'text/plain' });
      res.end(String(error.message || error));
    }
  });
  process.stdout.write(`READY ${issuer}\n`);
}

process.on('SIGTERM', () => process.exit(0));
start();
