// A real OpenID provider for Civitas's tests: panva's certified
// oidc-provider, standing in for a province's 统一身份认证 service.
//
//   PORT=4011 REDIRECT_URI=http://127.0.0.1:8080/api/v1/auth/verification/callback \
//   CLIENT_SECRET=… ACCOUNTS='{"wang":{"id_number":"11010519491231002X","name":"王芳"}}' \
//   node provider.mjs
//
// The person "signs in" as the login_hint the authorization request
// carries (the test plays the browser), consents, and is sent back to
// REDIRECT_URI with a code; the ID token carries the account's id_number
// (or credit_code) claim. Everything else — discovery, JWKS, PKCE, the
// token endpoint, signed ID tokens — is the library's own.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const accounts = JSON.parse(process.env.ACCOUNTS ?? '{}');

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'civitas',
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  scopes: ['openid', 'identity'],
  claims: { openid: ['sub'], identity: ['id_number', 'credit_code', 'name'] },
  // The identity claims go into the ID token itself.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  findAccount: async (_ctx, id) => accounts[id] && {
    accountId: id,
    claims: async () => ({ sub: id, ...accounts[id] }),
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

// Sign-in and consent without a page: the account is the login_hint.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) {
    return next();
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const accountId = details.params.login_hint;
  if (!accounts[accountId]) {
    ctx.status = 403;
    ctx.body = `unknown account ${accountId}`;
    return undefined;
  }
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId } };
  } else {
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  return undefined;
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on http://127.0.0.1:${port}`);
});
