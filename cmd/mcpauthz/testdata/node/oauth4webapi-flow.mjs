// An MCP-style OAuth client built on oauth4webapi, which nobody here wrote,
// run against mcpauthz by TestInteropOAuth4WebAPI (cmd/mcpauthz/interop_test.go).
//
//   node oauth4webapi-flow.mjs ISSUER REDIRECT_URI RESOURCE
//
// It discovers the authorization server (RFC 8414), registers itself
// (RFC 7591), prints {"authorize_url": ...} as one JSON line on stdout and
// reads the URL the browser was redirected to as one line from stdin. Then
// it validates that response (state, and iss because the metadata
// advertises it, RFC 9207), redeems the code with PKCE, refreshes, checks
// that the rotated-out refresh token is refused, revokes the new refresh
// token, checks it is refused too, and prints one JSON result line:
// {"ok": true, ...} or {"ok": false, "error": ...} (exit status 1).
//
// The server is plain http on loopback, which oauth4webapi refuses unless
// told otherwise with its allowInsecureRequests option.

import * as oauth from 'oauth4webapi'
import { createInterface } from 'node:readline'

const [issuerArg, redirectUri, resource] = process.argv.slice(2)
if (!issuerArg || !redirectUri || !resource) {
  console.error('usage: node oauth4webapi-flow.mjs ISSUER REDIRECT_URI RESOURCE')
  process.exit(2)
}

const insecure = { [oauth.allowInsecureRequests]: true }
const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const stdinLines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]()
async function readLine () {
  const { value, done } = await stdinLines.next()
  if (done) throw new Error('stdin closed before the callback URL arrived')
  return value.trim()
}

// expectError runs a request that must fail with the OAuth error code want
// and returns what the server said.
async function expectError (label, want, fn) {
  try {
    await fn()
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) {
      if (err.error === want) return { status: err.status, error: err.error }
      throw new Error(`${label}: got ${err.status} ${err.error} (${err.error_description}), want ${want}`)
    }
    throw new Error(`${label}: want ${want}, got ${err?.stack ?? err}`)
  }
  throw new Error(`${label}: want ${want}, but the request succeeded`)
}

async function main () {
  // RFC 8414 discovery; processDiscoveryResponse checks the issuer.
  const issuer = new URL(issuerArg)
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  )
  if (as.issuer !== issuerArg) throw new Error(`metadata issuer ${as.issuer} is not byte-identical to ${issuerArg}`)
  if (!as.registration_endpoint) throw new Error('metadata has no registration_endpoint')

  // RFC 7591 dynamic registration as a public client.
  const registered = await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(as, {
      client_name: 'oauth4webapi interop',
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code']
    }, insecure)
  )
  const client = { client_id: registered.client_id, token_endpoint_auth_method: 'none' }
  const clientAuth = oauth.None()

  // Authorization request with PKCE S256, state and an RFC 8707 resource.
  const codeVerifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const authorizeURL = new URL(as.authorization_endpoint)
  authorizeURL.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope: 'docs:read',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    resource
  }).toString()
  print({ authorize_url: authorizeURL.href })

  // The browser's redirect, validated: state, iss, no error.
  const callback = new URL(await readLine())
  const params = oauth.validateAuthResponse(as, client, callback, state)

  const tokens = await oauth.processAuthorizationCodeResponse(
    as, client,
    await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, codeVerifier, {
      additionalParameters: { resource },
      ...insecure
    })
  )
  if (!tokens.refresh_token) throw new Error('the code grant returned no refresh_token')

  // Refresh: a new refresh token comes back (rotation).
  const refreshed = await oauth.processRefreshTokenResponse(
    as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure)
  )
  if (!refreshed.refresh_token || refreshed.refresh_token === tokens.refresh_token) {
    throw new Error('the refresh did not rotate the refresh token')
  }
  if (refreshed.access_token === tokens.access_token) throw new Error('the refresh returned the same access token')

  // The rotated-out refresh token is refused.
  const oldRefresh = await expectError('refresh with the rotated-out refresh token', 'invalid_grant', async () =>
    oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure)))

  // RFC 7009 revocation of the current refresh token, which is refused after.
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, client, clientAuth, refreshed.refresh_token, insecure)
  )
  const revokedRefresh = await expectError('refresh with the revoked refresh token', 'invalid_grant', async () =>
    oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token, insecure)))

  print({
    ok: true,
    issuer: as.issuer,
    client_id: client.client_id,
    callback_iss: params.get('iss'),
    token_type: tokens.token_type,
    scope: tokens.scope,
    expires_in: tokens.expires_in,
    refresh_rotated: true,
    old_refresh: oldRefresh,
    revoked_refresh: revokedRefresh
  })
}

main().then(
  () => process.exit(0),
  (err) => {
    let cause
    try {
      cause = err?.cause === undefined ? undefined : JSON.stringify(err.cause)
    } catch {
      cause = String(err.cause)
    }
    print({ ok: false, error: String(err?.stack ?? err), code: err?.code, cause })
    process.exit(1)
  }
)
