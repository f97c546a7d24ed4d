// An independent OpenID Provider (panva/oidc-provider, OpenID Certified) for wardgate's
// interoperability tests. Loopback only; signing keys and cookie keys are generated at start.
//
// Environment:
//   PORT                 port to listen on, on 127.0.0.1 (required)
//   ISSUER               issuer identifier (default http://127.0.0.1:PORT)
//   RP_REDIRECT_URIS     comma-separated exact redirect URIs registered for every client
//                        (default http://127.0.0.1:8080/auth/callback)
//   RS256_CLIENT_SECRET  secret of `wardgate-rs256` (default: the development value below)
//   POST_CLIENT_SECRET   secret of `wardgate-post` (default: the development value below)
//   CLIENT_AUTH_METHODS  comma-separated token endpoint authentication methods offered
//                        (default client_secret_basic,client_secret_post,none); only the
//                        clients registered with one of them exist
//
// Prints exactly one line `READY <issuer>` on standard output once it listens.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const LOA1 = 'urn:wardgate:interop:loa:1';
const LOA2 = 'urn:wardgate:interop:loa:2';

// Each persona's acr values, strongest first. A persona can authenticate at its own level or
// below, never above: `level1` is never given LOA2.
const PERSONAS = {
  level2: {
    acrs: [LOA2, LOA1],
    claims: { name: 'Nguyễn Thị Thu Hà', accountLevel: 2 },
    label: 'Cư dân có tài khoản định danh điện tử mức độ 2',
  },
  // A second level-2 resident, the next person on a shared device.
  level2b: {
    acrs: [LOA2, LOA1],
    claims: { name: 'Lê Văn Cường', accountLevel: 2 },
    label: 'Cư dân khác có tài khoản định danh điện tử mức độ 2',
  },
  level1: {
    acrs: [LOA1],
    claims: { name: 'Trần Văn Bình', accountLevel: 1 },
    label: 'Cư dân có tài khoản định danh điện tử mức độ 1',
  },
};

const port = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('provider.mjs: set PORT to a port number between 1 and 65535\n');
  process.exit(2);
}
const issuer = process.env.ISSUER || `http://127.0.0.1:${port}`;
const redirectUris = (process.env.RP_REDIRECT_URIS || 'http://127.0.0.1:8080/auth/callback')
  .split(',')
  .map((uri) => uri.trim())
  .filter((uri) => uri.length > 0);
// Development values for loopback-only test clients; the Rust harness passes random ones.
const rs256Secret = process.env.RS256_CLIENT_SECRET || 'interop-rs256-development-secret-0123456789';
const postSecret = process.env.POST_CLIENT_SECRET || 'interop-post-development-secret-0123456789';
const clientAuthMethods = (process.env.CLIENT_AUTH_METHODS || 'client_secret_basic,client_secret_post,none')
  .split(',')
  .map((method) => method.trim())
  .filter((method) => method.length > 0);

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}` };
}

const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
    signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

const common = {
  redirect_uris: redirectUris,
  // RP-Initiated Logout: the gateway's return page, next to each callback.
  post_logout_redirect_uris: redirectUris.map((uri) => new URL('/auth/logged-out', uri).href),
  grant_types: ['authorization_code'],
  response_types: ['code'],
};

const clients = [
  {
    ...common,
    client_id: 'wardgate-rs256',
    client_secret: rs256Secret,
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  },
  {
    ...common,
    client_id: 'wardgate-es256',
    token_endpoint_auth_method: 'none',
    id_token_signed_response_alg: 'ES256',
  },
  {
    ...common,
    client_id: 'wardgate-post',
    client_secret: postSecret,
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'RS256',
  },
];

const configuration = {
  acrValues: [LOA1, LOA2],
  // oidc-provider accepts client_secret_basic and client_secret_post interchangeably for a
  // client registered with either; offering only one makes a relying party use that one.
  clientAuthMethods,
  clients: clients.filter((client) => clientAuthMethods.includes(client.token_endpoint_auth_method)),
  claims: {
    acr: null,
    amr: null,
    auth_time: null,
    sid: null,
    // `acr`, `amr` and `auth_time` reach every ID token, as they do from the identity
    // providers wardgate meets; oidc-provider's default puts them in only when requested.
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    profile: ['name', 'accountLevel'],
  },
  scopes: ['openid', 'profile'],
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  jwks,
  features: {
    claimsParameter: { enabled: true },
    devInteractions: { enabled: false },
    pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
    rpInitiatedLogout: { enabled: true },
    userinfo: { enabled: true },
    // RFC 9207 `iss` in authorization responses is always on in oidc-provider 9.
  },
  // PKCE with S256 (the only method oidc-provider 9 accepts) for every client.
  pkce: { required: () => true },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async findAccount(_ctx, sub) {
    const persona = PERSONAS[sub];
    if (persona === undefined) {
      return undefined;
    }
    return {
      accountId: sub,
      async claims() {
        return { sub, ...persona.claims };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, error) => {
  process.stderr.write(`provider.mjs: server error: ${error.stack ?? error}\n`);
});

// The acr the persona authenticates with, or undefined when the request has an essential acr
// the persona cannot reach (oidc-provider itself would re-prompt for login forever).
function acrFor(persona, params) {
  const request = essentialAcrRequest(params);
  if (request === undefined) {
    return persona.acrs[0];
  }
  return persona.acrs.find((acr) => request.includes(acr));
}

// The values of an essential `claims.id_token.acr` request, or undefined when there is none.
// Read from the raw `claims` parameter: oidc-provider replaces `claims.id_token.acr` with the
// non-essential `acr_values` when a request carries both.
function essentialAcrRequest(params) {
  if (typeof params.claims !== 'string') {
    return undefined;
  }
  const acr = JSON.parse(params.claims)?.id_token?.acr;
  if (acr?.essential !== true) {
    return undefined;
  }
  if (Array.isArray(acr.values)) {
    return acr.values;
  }
  if (typeof acr.value === 'string') {
    return [acr.value];
  }
  return undefined;
}

// Names of the claims the request asked for, in the ID token or from userinfo.
function requestedClaims(params) {
  if (typeof params.claims !== 'string') {
    return [];
  }
  const claims = JSON.parse(params.claims);
  return [...new Set([...Object.keys(claims?.id_token ?? {}), ...Object.keys(claims?.userinfo ?? {})])];
}

// A grant of everything the request asked for, so no consent prompt follows.
async function grantAll(interaction, accountId) {
  const { params, prompt } = interaction;
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope ?? 'openid'));
  const claims = [...requestedClaims(params), ...(prompt.details.missingOIDCClaims ?? [])];
  if (claims.length > 0) {
    grant.addOIDCClaims(claims);
  }
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) {
      throw new Error('form too large');
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
  res.end(body);
}

async function showInteraction(req, res, uid) {
  const interaction = await provider.interactionDetails(req, res);
  const buttons = [...Object.entries(PERSONAS), ['cancel', { label: 'Huỷ đăng nhập' }]]
    .map(([id, { label }]) => `<button name="persona" value="${id}">${escapeHtml(label)}</button>`)
    .join('\n      ');
  send(res, 200, 'text/html', `<!DOCTYPE html>
<html lang="vi">
  <head><meta charset="utf-8"><title>Đăng nhập thử nghiệm</title></head>
  <body>
    <h1>Đăng nhập thử nghiệm (${escapeHtml(interaction.prompt.name)})</h1>
    <form method="post" action="/interaction/${encodeURIComponent(uid)}/login">
      ${buttons}
    </form>
  </body>
</html>
`);
}

async function finishInteraction(req, res) {
  const interaction = await provider.interactionDetails(req, res);
  const form = await readForm(req);
  const choice = form.get('persona');
  let result;
  if (choice === 'cancel') {
    result = { error: 'access_denied', error_description: 'the resident cancelled' };
  } else if (Object.hasOwn(PERSONAS, choice ?? '')) {
    const persona = PERSONAS[choice];
    const accountId = interaction.session?.accountId ?? choice;
    const acr = acrFor(persona, interaction.params);
    if (acr === undefined) {
      result = {
        error: 'unmet_authentication_requirements',
        error_description: 'the resident cannot reach the essential acr requested',
      };
    } else if (interaction.prompt.name === 'login') {
      const grantId = await grantAll(interaction, choice);
      result = {
        login: { accountId: choice, acr, amr: ['pwd'] },
        consent: { grantId },
      };
    } else {
      result = { consent: { grantId: await grantAll(interaction, accountId) } };
    }
  } else {
    send(res, 400, 'text/plain', 'persona must be one of level2, level2b, level1, cancel\n');
    return;
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', issuer);
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(url.pathname);
  if (match === null) {
    callback(req, res);
    return;
  }
  try {
    if (req.method === 'GET' && match[2] === undefined) {
      await showInteraction(req, res, match[1]);
    } else if (req.method === 'POST' && match[2] === '/login') {
      await finishInteraction(req, res);
    } else {
      send(res, 405, 'text/plain', 'method not allowed\n');
    }
  } catch (error) {
    process.stderr.write(`provider.mjs: interaction failed: ${error.stack ?? error}\n`);
    if (!res.headersSent) {
      send(res, 400, 'text/plain', `interaction failed: ${error.message}\n`);
    }
  }
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
