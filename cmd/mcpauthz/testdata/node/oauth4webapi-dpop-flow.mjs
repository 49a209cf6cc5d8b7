// An MCP-style OAuth client with DPoP (RFC 9449), built on oauth4webapi and
// nothing but its own DPoP machinery (DPoP handles, proofs, nonce caching),
// run against mcpauthz by TestInteropOAuth4WebAPIDPoP
// (cmd/mcpauthz/interop_dpop_test.go), with the server requiring nonces.
//
//   node oauth4webapi-dpop-flow.mjs ISSUER REDIRECT_URI RESOURCE SEARCH_QUERY
//
// It talks JSON lines: on stdout, on stdin.
//
//  1. Discovers the authorization server (RFC 8414), registers as a public
//     client (RFC 7591), makes an ES256 key pair and prints
//     {"authorize_url": ..., "dpop_jkt": ...}: the authorization request has
//     PKCE S256, the resource and dpop_jkt (the key's thumbprint, which
//     binds the code, RFC 9449 §10).
//  2. Reads the URL the browser was redirected to, validates it (state,
//     iss), redeems the code with a DPoP proof and calls the MCP server
//     (initialize, tools/list, tools/call search SEARCH_QUERY) with
//     Authorization: DPoP and a proof per request. Each use_dpop_nonce
//     answer (isDPoPNonceError) is retried once, with the nonce oauth4webapi
//     cached from the DPoP-Nonce header, and recorded in nonce_errors.
//  3. Refreshes with the same key, calls the MCP server with the new token,
//     refreshes with another key (which must fail: invalid_dpop_proof) and
//     with the right key again, then prints
//     {"access_token": ..., "jkt": ...} and waits for a line on stdin: the
//     test introspects and revokes that access token meanwhile.
//  4. Calls the MCP server with the revoked access token (must be 401
//     invalid_token), revokes the refresh token (RFC 7009), checks that a
//     refresh is then refused (invalid_grant) and prints one JSON result
//     line: {"ok": true, ...} or {"ok": false, "error": ...} (exit status 1).
//
// The server is plain http on loopback, which oauth4webapi refuses unless
// told otherwise with its allowInsecureRequests option.

import * as oauth from 'oauth4webapi'
import { createInterface } from 'node:readline'

const [issuerArg, redirectUri, resource, searchQuery] = process.argv.slice(2)
if (!issuerArg || !redirectUri || !resource || !searchQuery) {
  console.error('usage: node oauth4webapi-dpop-flow.mjs ISSUER REDIRECT_URI RESOURCE SEARCH_QUERY')
  process.exit(2)
}

const insecure = { [oauth.allowInsecureRequests]: true }
const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const stdinLines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]()
async function readLine (what) {
  const { value, done } = await stdinLines.next()
  if (done) throw new Error(`stdin closed before ${what} arrived`)
  return value.trim()
}

// nonceErrors records every use_dpop_nonce answer: the step, the HTTP
// status and who sent it ("as": a token endpoint error body, "rs": a
// WWW-Authenticate DPoP challenge).
const nonceErrors = []

// withNonceRetry runs fn, a request and the processing of its response,
// and runs it once more if the server asked for a DPoP nonce. oauth4webapi
// has cached the nonce of the DPoP-Nonce header by then, per origin, and
// puts it in the next proof itself.
async function withNonceRetry (step, fn) {
  try {
    return await fn()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    nonceErrors.push({
      step,
      status: err.status,
      from: err instanceof oauth.WWWAuthenticateChallengeError ? 'rs' : 'as'
    })
    return await fn()
  }
}

// expectError runs a token request that must fail with the OAuth error
// code want (after a nonce retry, if any) and returns what the server said.
async function expectError (label, want, fn) {
  try {
    await withNonceRetry(label, fn)
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) {
      if (err.error === want) return { status: err.status, error: err.error }
      throw new Error(`${label}: got ${err.status} ${err.error} (${err.error_description}), want ${want}`)
    }
    throw new Error(`${label}: want ${want}, got ${err?.stack ?? err}`)
  }
  throw new Error(`${label}: want ${want}, but the request succeeded`)
}

// checkDPoPTokens checks a token response is DPoP-bound.
function checkDPoPTokens (label, tokens) {
  if (typeof tokens.token_type !== 'string' || tokens.token_type.toLowerCase() !== 'dpop') {
    throw new Error(`${label}: token_type ${tokens.token_type}, want DPoP`)
  }
  if (!tokens.access_token || !tokens.refresh_token) throw new Error(`${label}: no access or refresh token`)
}

async function main () {
  // RFC 8414 discovery; processDiscoveryResponse checks the issuer.
  const issuer = new URL(issuerArg)
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  )
  if (as.issuer !== issuerArg) throw new Error(`metadata issuer ${as.issuer} is not byte-identical to ${issuerArg}`)
  if (!as.dpop_signing_alg_values_supported?.includes('ES256')) {
    throw new Error(`metadata dpop_signing_alg_values_supported ${JSON.stringify(as.dpop_signing_alg_values_supported)} lacks ES256`)
  }

  // RFC 7591 dynamic registration as a public client.
  const registered = await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(as, {
      client_name: 'oauth4webapi DPoP interop',
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code']
    }, insecure)
  )
  const client = { client_id: registered.client_id, token_endpoint_auth_method: 'none' }
  const clientAuth = oauth.None()

  // The client's DPoP key, and its thumbprint for dpop_jkt.
  const keyPair = await oauth.generateKeyPair('ES256')
  const dpop = oauth.DPoP(client, keyPair)
  const jkt = await dpop.calculateThumbprint()

  // Authorization request with PKCE S256, state, an RFC 8707 resource and
  // dpop_jkt.
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
    resource,
    dpop_jkt: jkt
  }).toString()
  print({ authorize_url: authorizeURL.href, dpop_jkt: jkt })

  // The browser's redirect, validated: state, iss, no error.
  const callback = new URL(await readLine('the callback URL'))
  const params = oauth.validateAuthResponse(as, client, callback, state)

  // The code, redeemed with a proof by the key of dpop_jkt.
  const tokens = await withNonceRetry('code', async () => oauth.processAuthorizationCodeResponse(
    as, client,
    await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, codeVerifier, {
      additionalParameters: { resource },
      DPoP: dpop,
      ...insecure
    })
  ))
  checkDPoPTokens('code grant', tokens)

  // The MCP server, with Authorization: DPoP and a proof per request.
  const mcpURL = new URL(resource)
  let rpcID = 0
  async function mcp (step, handle, accessToken, method, params) {
    const id = ++rpcID
    return withNonceRetry(step, async () => {
      const headers = new Headers({
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18'
      })
      const res = await oauth.protectedResourceRequest(accessToken, 'POST', mcpURL, headers,
        JSON.stringify({ jsonrpc: '2.0', id, method, params }), { DPoP: handle, ...insecure })
      const text = await res.text()
      if (res.status !== 200) throw new Error(`MCP ${method}: status ${res.status}: ${text}`)
      let msg
      if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        const data = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim())
        msg = JSON.parse(data[data.length - 1])
      } else {
        msg = JSON.parse(text)
      }
      if (msg.id !== id || msg.error || !msg.result) throw new Error(`MCP ${method}: ${text}`)
      return msg.result
    })
  }

  const init = await mcp('mcp initialize', dpop, tokens.access_token, 'initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'oauth4webapi DPoP interop', version: '1.0.0' }
  })
  const list = await mcp('mcp tools/list', dpop, tokens.access_token, 'tools/list', {})
  const search = await mcp('mcp search', dpop, tokens.access_token, 'tools/call',
    { name: 'search', arguments: { query: searchQuery } })
  if (search.isError) throw new Error(`search: tool error ${JSON.stringify(search)}`)
  const found = search.structuredContent ?? JSON.parse(search.content?.[0]?.text ?? '{}')

  // Refresh with the same key: new DPoP-bound tokens, rotated.
  const refreshed = await withNonceRetry('refresh', async () => oauth.processRefreshTokenResponse(
    as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { DPoP: dpop, ...insecure })
  ))
  checkDPoPTokens('refresh', refreshed)
  if (refreshed.refresh_token === tokens.refresh_token || refreshed.access_token === tokens.access_token) {
    throw new Error('the refresh did not rotate the tokens')
  }
  const afterRefresh = await mcp('mcp tools/list after refresh', dpop, refreshed.access_token, 'tools/list', {})

  // Refresh with another key: the refresh token is bound to the first.
  const otherDPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
  const otherJKT = await otherDPoP.calculateThumbprint()
  const otherKeyRefresh = await expectError('refresh with another key', 'invalid_dpop_proof', async () =>
    oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token, { DPoP: otherDPoP, ...insecure })))

  // The refused attempt did not use up the refresh token: the right key
  // still refreshes.
  const current = await withNonceRetry('refresh after the other key', async () => oauth.processRefreshTokenResponse(
    as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token, { DPoP: dpop, ...insecure })
  ))
  checkDPoPTokens('refresh after the other key', current)

  // The test introspects and revokes this access token.
  print({ access_token: current.access_token, jkt, client_id: client.client_id })
  await readLine('the go-ahead after the revocation')

  // The revoked access token, with a good proof, is refused.
  let revokedAccessMCP
  try {
    await mcp('mcp with the revoked access token', dpop, current.access_token, 'tools/list', {})
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err
    const ch = err.cause.find((c) => c.scheme === 'dpop') ?? err.cause[0]
    revokedAccessMCP = { status: err.status, scheme: ch?.scheme, error: ch?.parameters?.error }
  }
  if (!revokedAccessMCP) throw new Error('the MCP server accepted the revoked access token')

  // RFC 7009 revocation of the refresh token, which is refused after.
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, client, clientAuth, current.refresh_token, insecure)
  )
  const revokedRefresh = await expectError('refresh with the revoked refresh token', 'invalid_grant', async () =>
    oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, current.refresh_token, { DPoP: dpop, ...insecure })))

  print({
    ok: true,
    issuer: as.issuer,
    client_id: client.client_id,
    callback_iss: params.get('iss'),
    jkt,
    other_jkt: otherJKT,
    token_type: tokens.token_type,
    scope: tokens.scope,
    refresh_token_type: refreshed.token_type,
    refresh_again_token_type: current.token_type,
    mcp: {
      protocol_version: init.protocolVersion,
      server_name: init.serverInfo?.name,
      tools: (list.tools ?? []).map((t) => t.name),
      search_results: found.results ?? [],
      tools_after_refresh: (afterRefresh.tools ?? []).map((t) => t.name)
    },
    nonce_errors: nonceErrors,
    other_key_refresh: otherKeyRefresh,
    revoked_access_mcp: revokedAccessMCP,
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
    print({ ok: false, error: String(err?.stack ?? err), code: err?.code, cause, nonce_errors: nonceErrors })
    process.exit(1)
  }
)
