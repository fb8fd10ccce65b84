// Tests only: a real OpenID provider (the certified `oidc-provider`) shaped like an Entra tenant, for the
// UI's MSAL sign-in test (tests/e2e/test_oidc_sign_in.py). Loopback only, HTTPS (MSAL refuses an http
// authority) with the certificate the test made. One JSON line per event on stdout: the test reads them.
//
// Like Entra: the issuer is `<origin>/<tenant>/v2.0`, the keys are also at `/<tenant>/discovery/v2.0/keys`,
// access tokens are RS256 JWTs for the API (`aud` = the API's client id) with `oid`, `tid`, `roles`, `scp`,
// `ver: "2.0"`, `azp`, `xms_cc` when the client declared capabilities, and `acrs` once the authorization
// asked for the MFA context in a claims request. The UI's client is pre-authorized (no consent page).
// Unlike Entra: a dev login form stands in for the sign-in page (any password; no real MFA); authorize
// requests get `prompt=consent` (oidc-provider grants offline_access only then; Entra always does), so
// its consent page shows once per authorization; and a claims request with only an `access_token`
// member (Entra's extension; OpenID Connect Core defines `id_token` and `userinfo`, all oidc-provider
// accepts) gets an empty `id_token` member (MSAL.js 5 sends one anyway).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import Provider from "oidc-provider";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const TENANT = env("OIDC_TENANT_ID");
const CLIENT_ID = env("OIDC_CLIENT_ID"); // the UI's public client
const API_CLIENT_ID = env("OIDC_API_CLIENT_ID"); // the API's client id: the access token's audience
const API_SCOPE = env("OIDC_API_SCOPE"); // e.g. api://engram-e2e/access_as_user
const REDIRECT_URI = env("OIDC_REDIRECT_URI"); // the UI's origin
const ACCESS_TOKEN_TTL = Number(process.env.OIDC_ACCESS_TOKEN_TTL || "120");
const RESOURCE = API_SCOPE.slice(0, API_SCOPE.lastIndexOf("/"));
const SHORT_SCOPE = API_SCOPE.slice(API_SCOPE.lastIndexOf("/") + 1);
const PREFIX = `/${TENANT}/v2.0`;

const log = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
// A stable GUID per account, like Entra's `oid`.
const oidOf = (accountId) => {
  const hex = createHash("sha256").update(accountId).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
};

const requested = (claims) => {
  const accessToken = (claims && claims.access_token) || {};
  const acrs = accessToken.acrs && accessToken.acrs.value;
  const capabilities = (accessToken.xms_cc && accessToken.xms_cc.values) || [];
  return { acrs, capabilities };
};

const configuration = {
  clients: [
    {
      client_id: CLIENT_ID,
      token_endpoint_auth_method: "none",
      application_type: "web",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: [REDIRECT_URI],
    },
  ],
  pkce: { required: () => true },
  clientBasedCORS: (ctx, origin, client) => client.redirectUris.some((uri) => new URL(uri).origin === origin),
  scopes: ["openid", "profile", "offline_access"],
  claims: { openid: ["sub"], profile: ["name", "preferred_username", "oid", "tid"] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: sub, preferred_username: `${sub}@contoso.example`, oid: oidOf(sub), tid: TENANT }),
  }),
  ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 3600, RefreshToken: 86400, Session: 86400, Grant: 86400, Interaction: 600 },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
  // Entra does not revoke a refresh token when it is used
  // (https://learn.microsoft.com/entra/identity-platform/refresh-tokens), so two renewals racing in the
  // UI both succeed there. This provider's default rotation consumes the old token and the loser of such
  // a race fails (then MSAL falls back to a hidden iframe): keep one refresh token per grant instead.
  rotateRefreshToken: false,
  features: {
    devInteractions: { enabled: true },
    claimsParameter: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== RESOURCE) throw new Error(`unknown resource ${resource}`);
        return {
          scope: API_SCOPE,
          audience: API_CLIENT_ID,
          accessTokenFormat: "jwt",
          accessTokenTTL: ACCESS_TOKEN_TTL,
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
  // Pre-authorized, like the UI on the API's app registration: the grant covers what it asks for.
  loadExistingGrant: async (ctx) => {
    const { provider, client, session, result } = ctx.oidc;
    const grantId = result?.consent?.grantId || session.grantIdFor(client.clientId);
    const grant = (grantId && (await provider.Grant.find(grantId))) || new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope("openid profile offline_access");
    grant.addResourceScope(RESOURCE, API_SCOPE);
    await grant.save();
    return grant;
  },
  extraTokenClaims: async (ctx, token) => {
    if (token.kind !== "AccessToken") return undefined;
    // oidc-provider keeps the claims request on the code and refresh token, not on a resource server's
    // access token: read it from what the token endpoint is redeeming.
    const { entities } = ctx.oidc;
    const source = entities.AuthorizationCode || entities.RotatedRefreshToken || entities.RefreshToken;
    const { acrs, capabilities } = requested(token.claims || (source && source.claims));
    const claims = {
      oid: oidOf(token.accountId),
      tid: TENANT,
      roles: ["engram.user"],
      scp: SHORT_SCOPE,
      azp: token.clientId,
      ver: "2.0",
    };
    if (capabilities.length) claims.xms_cc = capabilities.map((c) => String(c).toLowerCase());
    if (acrs) claims.acrs = [acrs]; // the "policy" for the context: the user signed in (no real MFA here)
    return claims;
  },
};

const server = https.createServer({ cert: readFileSync(env("OIDC_TLS_CERT")), key: readFileSync(env("OIDC_TLS_KEY")) });
server.listen(Number(process.env.OIDC_PORT || "0"), "127.0.0.1", () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}${PREFIX}`;
  const provider = new Provider(issuer, configuration);
  provider.on("grant.success", (ctx) => log({ event: "grant", grant_type: ctx.oidc.params.grant_type }));
  provider.on("end_session.success", () => log({ event: "end_session" }));
  provider.on("server_error", (ctx, error) => log({ event: "server_error", error: String(error) }));
  const callback = provider.callback();
  server.on("request", (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === `/${TENANT}/discovery/v2.0/keys`) url.pathname = `${PREFIX}/jwks`; // Entra's key path
    if (url.pathname === `${PREFIX}/auth`) {
      log({ event: "authorize", claims: url.searchParams.get("claims") });
      // oidc-provider keeps offline_access (the refresh token's scope) only with prompt=consent
      // (OpenID Connect Core 11); Entra grants it without. So its consent page shows once per sign-in.
      if (!url.searchParams.has("prompt")) url.searchParams.set("prompt", "consent");
    }
    if (url.pathname === `${PREFIX}/auth` && url.searchParams.has("claims")) {
      try {
        const claims = JSON.parse(url.searchParams.get("claims"));
        if (claims && typeof claims === "object" && !claims.id_token && !claims.userinfo) {
          url.searchParams.set("claims", JSON.stringify({ ...claims, id_token: {} }));
        }
      } catch {
        /* not JSON: the provider answers invalid_request itself */
      }
    }
    if (!url.pathname.startsWith(PREFIX)) {
      res.writeHead(404).end();
      return;
    }
    req.originalUrl = url.pathname + url.search;
    req.url = (url.pathname.slice(PREFIX.length) || "/") + url.search;
    callback(req, res);
  });
  log({ event: "listening", issuer, jwks: `https://127.0.0.1:${port}/${TENANT}/discovery/v2.0/keys` });
});
