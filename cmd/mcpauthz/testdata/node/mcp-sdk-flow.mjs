// An MCP client built on the official TypeScript SDK (@modelcontextprotocol/sdk),
// which nobody here wrote, run against mcpauthz by TestInteropMCPSDK
// (cmd/mcpauthz/mcp_e2e_test.go).
//
//   node mcp-sdk-flow.mjs MCP_URL REDIRECT_URI
//
// Everything OAuth is left to the SDK: its first connect gets a 401 from the
// MCP endpoint, follows the WWW-Authenticate challenge to the protected
// resource metadata (RFC 9728) and on to the authorization server metadata
// (RFC 8414), registers the client (RFC 7591) and starts an authorization
// with PKCE. This script's OAuthClientProvider keeps what the SDK hands it in
// memory and, when the SDK wants the user agent sent to the authorization
// URL, prints {"authorize_url": ...} as one JSON line on stdout. Then it reads
// the URL the browser was redirected to as one line from stdin, lets the SDK
// redeem the code (transport.finishAuth), connects again with the token,
// lists the tools, searches for "authorization", fetches the first result and
// prints one JSON result line: {"ok": true, ...}, or {"ok": false, "error":
// ...} with the error also on stderr and exit status 1.

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'

const [mcpUrlArg, redirectUri] = process.argv.slice(2)
if (!mcpUrlArg || !redirectUri) {
  console.error('usage: node mcp-sdk-flow.mjs MCP_URL REDIRECT_URI')
  process.exit(2)
}
const mcpUrl = new URL(mcpUrlArg)

const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const stdinLines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]()
async function readLine () {
  const { value, done } = await stdinLines.next()
  if (done) throw new Error('stdin closed before the callback URL arrived')
  return value.trim()
}

// InMemoryProvider is an OAuthClientProvider for one session of one user.
// It records what the SDK did, for the result line.
class InMemoryProvider {
  constructor (redirect) {
    this._redirect = redirect
    this._clientInformation = undefined
    this._tokens = undefined
    this._codeVerifier = undefined
    this._state = undefined
    this.authorizeURL = undefined
    this.clientIDs = new Set() // every client_id the SDK saved
    this.invalidated = []
  }

  get redirectUrl () { return this._redirect }

  get clientMetadata () {
    return {
      client_name: 'MCP TypeScript SDK interop',
      redirect_uris: [this._redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none'
    }
  }

  state () {
    this._state = randomBytes(16).toString('base64url')
    return this._state
  }

  clientInformation () { return this._clientInformation }
  saveClientInformation (info) {
    this.clientIDs.add(info.client_id)
    this._clientInformation = info
  }

  tokens () { return this._tokens }
  saveTokens (tokens) { this._tokens = tokens }

  redirectToAuthorization (url) {
    this.authorizeURL = new URL(url)
    print({ authorize_url: this.authorizeURL.href })
  }

  saveCodeVerifier (v) { this._codeVerifier = v }
  codeVerifier () {
    if (!this._codeVerifier) throw new Error('no code verifier saved')
    return this._codeVerifier
  }

  invalidateCredentials (scope) {
    this.invalidated.push(scope)
    if (scope === 'all' || scope === 'client') this._clientInformation = undefined
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined
    if (scope === 'all' || scope === 'verifier') this._codeVerifier = undefined
  }
}

// toolJSON returns the JSON object in the first text content item of a
// successful tool result.
function toolJSON (name, result) {
  if (result.isError) throw new Error(`${name} returned isError: ${JSON.stringify(result.content)}`)
  const first = result.content?.[0]
  if (first?.type !== 'text') throw new Error(`${name}: content[0] is not text: ${JSON.stringify(result.content)}`)
  try {
    return JSON.parse(first.text)
  } catch (err) {
    throw new Error(`${name}: content[0].text is not JSON (${err.message}): ${first.text.slice(0, 200)}`)
  }
}

async function main () {
  const provider = new InMemoryProvider(redirectUri)
  const client = new Client({ name: 'mcpauthz-sdk-interop', version: '1.0.0' })

  // 1. Without a token: the SDK discovers, registers and redirects.
  const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })
  try {
    await client.connect(first)
    throw new Error('connected without authorization: the MCP endpoint did not answer 401')
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err
  }
  await client.close()
  if (!provider.authorizeURL) throw new Error('the SDK threw UnauthorizedError without redirecting to authorization')
  const clientInfo = provider.clientInformation()
  if (!clientInfo?.client_id) throw new Error('the SDK did not register a client')
  const authParams = Object.fromEntries(provider.authorizeURL.searchParams)

  // 2. The browser's redirect, checked as a client would.
  const callback = new URL(await readLine())
  if (callback.searchParams.get('error')) {
    throw new Error(`authorization failed: ${callback.searchParams.get('error')}: ${callback.searchParams.get('error_description')}`)
  }
  if (callback.searchParams.get('state') !== provider._state) {
    throw new Error(`callback state ${callback.searchParams.get('state')} is not the state ${provider._state} the SDK sent`)
  }
  const code = callback.searchParams.get('code')
  if (!code) throw new Error(`callback without code: ${callback.href}`)
  await first.finishAuth(code)
  const tokens = provider.tokens()
  if (!tokens?.access_token) throw new Error('finishAuth saved no access token')

  // 3. Connect again, now with the token.
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })
  await client.connect(transport)
  try {
    const { tools } = await client.listTools()
    const search = toolJSON('search', await client.callTool({ name: 'search', arguments: { query: 'authorization' } }))
    if (!Array.isArray(search.results) || search.results.length === 0) {
      throw new Error(`search found nothing: ${JSON.stringify(search)}`)
    }
    const doc = toolJSON('fetch', await client.callTool({ name: 'fetch', arguments: { id: search.results[0].id } }))

    print({
      ok: true,
      protocol_version: transport.protocolVersion ?? null,
      server_info: client.getServerVersion() ?? null,
      client_id: clientInfo.client_id,
      registered_client_ids: [...provider.clientIDs],
      invalidated: provider.invalidated,
      authorize_params: authParams,
      token_type: tokens.token_type,
      scope: tokens.scope ?? null,
      has_refresh_token: Boolean(tokens.refresh_token),
      tools: tools.map((t) => t.name),
      search_results: search.results,
      fetched: {
        id: doc.id,
        title: doc.title,
        url: doc.url,
        text_length: typeof doc.text === 'string' ? doc.text.length : -1,
        metadata: doc.metadata ?? null
      }
    })
  } finally {
    await client.close()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    const msg = String(err?.stack ?? err)
    console.error(msg)
    print({ ok: false, error: msg, code: err?.code })
    process.exit(1)
  }
)
