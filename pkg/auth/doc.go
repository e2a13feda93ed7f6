// Package auth issues, stores and checks the hub's bearer tokens and guards HTTP routes.
//
// Contract:
//
//   - A token is "mrh_" followed by 43 base64url characters (32 random bytes). Only its SHA-256
//     is stored (table api_tokens); the plaintext is returned once by Create and never logged.
//   - Each token has a role (his, clinician, bureau, admin), an organisation code (the
//     institution's unified social credit code — a region code is accepted and stored as the
//     USCC — or, for bureau, a district code), an expiry and an optional revocation time.
//   - Authenticator.Middleware requires "Authorization: Bearer <token>" on every route except
//     the public ones given to it; failures answer 401 with WWW-Authenticate. Require(roles…)
//     answers 403 to other roles. Errors are a FHIR OperationOutcome under /fhir and
//     {"error":{"code","message"}} elsewhere (WriteError).
//   - Lookups are cached for Authenticator.CacheTTL (default 5 s). Every change of a token
//     (revocation included) is announced by the database on the notification channel
//     mrhub_token_changed; Authenticator.Listen drops the token from the cache when it is, so
//     a revocation takes effect on every hub at once. A hub whose listening connection drops
//     empties its cache and listens again; the TTL bounds what a lost notification can cost.
package auth
