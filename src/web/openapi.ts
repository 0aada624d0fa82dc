/**
 * The admin API's OpenAPI 3.1 document, served at /api/v1/openapi.json. It describes exactly
 * what api.ts registers and answers (openapi.test.ts compares the routes with apiPlugin's).
 */
import { REVOCATION_REASONS } from "../portal/ports.js";

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const dateTime: Json = { type: "string", format: "date-time" };
const dateTimeOrNull: Json = { type: ["string", "null"], format: "date-time" };

const json = (schema: Json): Json => ({ "application/json": { schema } });

/** A 2xx answer with a JSON body. */
const ok = (description: string, schema: Json): Json => ({ description, content: json(schema) });

/** An error answer: application/problem+json, with the codes that can cause it. */
const problem = (description: string, codes: readonly string[]): Json => ({
  description: `${description} Codes: ${codes.join(", ")}.`,
  content: { "application/problem+json": { schema: ref("Problem") } },
});

/** Codes the certificate check can give on every route that needs a certificate. */
const CERT_CODES = ["CERT_REQUIRED", "CERT_OTHER_CA", "CERT_UNKNOWN", "CERT_EXPIRED", "CERT_NOT_YET_VALID", "CERT_REVOKED", "USER_SUSPENDED"] as const;

const forbidden = problem(
  "The client certificate is missing or not acceptable (foreign CA, unknown, expired, not yet valid, revoked, or its user suspended), or its user is not an operator.",
  [...CERT_CODES, "OPERATOR_ONLY"],
);
const unsupported = problem(
  "The request's Content-Type is not application/json (the CSRF defence: a cross-site form cannot send it).",
  ["UNSUPPORTED_MEDIA_TYPE"],
);
const tooLarge = (limit: string): Json => problem(`The body is larger than ${limit}.`, ["BODY_TOO_LARGE"]);
const notFound = problem("No user has this user ID.", ["USER_NOT_FOUND"]);
const badJson = (codes: readonly string[] = []): Json => problem("The body or a parameter is not valid.", ["FIELD_INVALID", ...codes]);

const userIdParam: Json = {
  name: "userId", in: "path", required: true, description: "The user's ID.",
  schema: { type: "string", minLength: 1, maxLength: 64 },
};

/** The optional body of an action without parameters: nothing, or an empty JSON object. */
const emptyBody: Json = {
  required: false,
  description: "No parameters: send an empty body or `{}`, but always with `Content-Type: application/json`.",
  content: json({ type: "object", description: "Its content is ignored." }),
};

/** POST /users/{userId}/{unlock|suspend|resume}: the user as it is afterwards. */
function userAction(operationId: string, summary: string, description: string, badRequest: Json = badJson()): Json {
  return {
    operationId, summary, description, tags: ["users"],
    parameters: [userIdParam],
    requestBody: emptyBody,
    responses: {
      200: ok("The user after the change.", { type: "object", required: ["user"], properties: { user: ref("User") } }),
      400: badRequest, 403: forbidden, 404: notFound, 413: tooLarge("64 KiB"), 415: unsupported,
    },
  };
}

const DESCRIPTION = `The operator console's operations as JSON, for automation.

**Authentication.** The API is authenticated by the operator's TLS client certificate alone (mutual TLS), \
issued by the service's issuing CA: no cookie, no password, no token. The portal's HTTPS port asks every client \
for a certificate during the handshake; a missing, foreign, unknown, expired, not yet valid or revoked certificate, \
or one whose user is suspended, is answered with 403 and a problem document saying why. Every route except \
POST /login and GET /openapi.json further requires the certificate's user to be an operator (OPERATOR_ONLY).

**Content-Type and CSRF.** Every POST must carry \`Content-Type: application/json\` (POST /users/bulk: \`text/csv\`), \
even when it has no body; anything else is refused with 415 (UNSUPPORTED_MEDIA_TYPE). Because browsers present \
client certificates on their own, this is the API's CSRF defence: a cross-site form cannot send these types.

**Login check.** POST /login accepts the certificate of any user, operator or not: it checks the user ID and password \
against the certificate without opening a session. This is what \`shomei login-check\` uses.

**Errors** are \`application/problem+json\` objects (see the Problem schema) whose \`code\` names the cause and whose \
\`remedy\` says what to do; the texts follow the \`lang\` query parameter, the language cookie or Accept-Language.

認証は、サービスの発行 CA が発行した運用担当者のクライアント証明書（相互 TLS）だけで行い、POST は必ず Content-Type: application/json（一括登録は text/csv）で送ってください。`;

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: { title: "Shomei admin API", version: "1", description: DESCRIPTION },
    servers: [{ url: "/api/v1", description: "On the portal's HTTPS port (client certificate required)." }],
    security: [{ clientCertificate: [] }],
    tags: [
      { name: "login", description: "Checking a user's credentials." },
      { name: "users", description: "Registering and managing users (operators only)." },
      { name: "certificates", description: "Certificates (operators only)." },
      { name: "audit", description: "The audit log (operators only)." },
      { name: "meta", description: "This document." },
    ],
    paths: {
      "/openapi.json": {
        get: {
          operationId: "getOpenApiDocument", summary: "This OpenAPI document", tags: ["meta"],
          description: "Served without any certificate check.",
          security: [],
          responses: { 200: ok("The OpenAPI 3.1 document.", { type: "object" }) },
        },
      },
      "/login": {
        post: {
          operationId: "login", summary: "Check a user ID and password against the client certificate", tags: ["login"],
          description: "Open to any user's certificate (not only operators'); no session is opened. The user ID typed must be "
            + "the certificate's user. A wrong password counts toward the account lock like a failed login in the browser. "
            + "Used by `shomei login-check`.",
          requestBody: {
            required: true,
            content: json({
              type: "object", required: ["userId", "password"],
              properties: {
                userId: { type: "string", maxLength: 64, description: "Compared with the certificate's user after NFKC normalisation and trimming." },
                password: { type: "string", maxLength: 256, description: "A longer password is refused like a wrong one." },
              },
            }),
          },
          responses: {
            200: ok("The user ID and password are right for this certificate.", ref("LoginResult")),
            400: badJson(),
            401: problem("The password is wrong.", ["LOGIN_FAILED"]),
            403: problem(
              "The certificate is not acceptable, the user ID is not the certificate's, the account is locked, or the initial password expired.",
              [...CERT_CODES, "LOGIN_USER_MISMATCH", "ACCOUNT_LOCKED", "ACCOUNT_LOCKED_TEMPORARILY", "INITIAL_PASSWORD_EXPIRED"],
            ),
            413: tooLarge("64 KiB"),
            415: unsupported,
          },
        },
      },
      "/users": {
        get: {
          operationId: "searchUsers", summary: "List or search users", tags: ["users"],
          parameters: [
            { name: "q", in: "query", required: false, description: "Text to look for (user ID, name, e-mail, organization); at most 100 characters are used.", schema: { type: "string", maxLength: 100 } },
            { name: "limit", in: "query", required: false, description: "How many users (1–1000).", schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
            { name: "offset", in: "query", required: false, description: "How many to skip.", schema: { type: "integer", minimum: 0, default: 0 } },
          ],
          responses: {
            200: ok("The users found.", { type: "object", required: ["users"], properties: { users: { type: "array", items: ref("User") } } }),
            403: forbidden,
          },
        },
        post: {
          operationId: "registerUser", summary: "Register a user", tags: ["users"],
          description: "Registers the user and e-mails the passcode (for obtaining a certificate) and the initial password.",
          requestBody: {
            required: true,
            content: json({
              type: "object", required: ["userId", "email", "name"],
              properties: {
                userId: { type: "string", minLength: 1, maxLength: 64, description: "Must match the configured user ID pattern (default `^a[0-9]{7}$`)." },
                email: { type: "string", format: "email", maxLength: 254 },
                name: { type: "string", minLength: 1, maxLength: 100 },
                organization: { type: "string", maxLength: 200, description: "Defaults to the configured organization." },
                lang: { type: "string", enum: ["ja", "en"], default: "ja", description: "Language of the user's e-mails and pages." },
              },
            }),
          },
          responses: {
            201: ok("The user is registered and the e-mails are sent.", {
              type: "object", required: ["user", "passcodeExpiresAt", "passwordExpiresAt"],
              properties: {
                user: ref("User"),
                passcodeExpiresAt: { ...dateTime, description: "When the passcode stops working." },
                passwordExpiresAt: { ...dateTime, description: "When the initial password stops working." },
              },
            }),
            400: badJson(["INPUT_REQUIRED", "USER_ID_INVALID", "EMAIL_INVALID"]),
            403: forbidden,
            409: problem("The user ID is already registered.", ["USER_EXISTS"]),
            413: tooLarge("64 KiB"),
            415: unsupported,
          },
        },
      },
      "/users/bulk": {
        post: {
          operationId: "bulkRegisterUsers", summary: "Register users from a CSV file", tags: ["users"],
          description: "The body is a CSV file as Excel saves it: UTF-8 (with or without BOM) or Shift_JIS. The header names the "
            + "columns, in English or Japanese: userId (user_id, ユーザID), email (メールアドレス), name (氏名), and optionally "
            + "organization (組織) and lang (言語: ja/en). Every row is checked in full; the good rows are registered one by one, "
            + "a bad row is reported and nothing of it is written. With `dryRun`, only the checks run.",
          parameters: [
            { name: "dryRun", in: "query", required: false, description: "`true` (or `1`): check the rows, register nothing.", schema: { type: "boolean", default: false } },
          ],
          requestBody: {
            required: true,
            content: { "text/csv": { schema: { type: "string", description: "The CSV file's bytes (at most 2 MiB, 10,000 rows)." } } },
          },
          responses: {
            200: ok("Each row's outcome (some rows may be rejected).", ref("BulkResult")),
            400: problem("The file cannot be read as a user list.", ["CSV_ENCODING", "CSV_HEADER", "CSV_MALFORMED", "CSV_TOO_MANY_ROWS"]),
            403: forbidden,
            413: tooLarge("2 MiB"),
            415: problem("The request's Content-Type is not text/csv.", ["UNSUPPORTED_MEDIA_TYPE"]),
            422: ok("Not a dry run, and every row was rejected: nothing was registered.", ref("BulkResult")),
          },
        },
      },
      "/users/{userId}": {
        get: {
          operationId: "getUser", summary: "A user and their certificates", tags: ["users"],
          parameters: [userIdParam],
          responses: {
            200: ok("The user and their certificates, newest first.", {
              type: "object", required: ["user", "certificates"],
              properties: { user: ref("User"), certificates: { type: "array", items: ref("Certificate") } },
            }),
            403: forbidden,
            404: notFound,
          },
        },
      },
      "/users/{userId}/certificates": {
        get: {
          operationId: "listUserCertificates", summary: "A user's certificates", tags: ["users", "certificates"],
          parameters: [userIdParam],
          responses: {
            200: ok("The user's certificates, newest first.", {
              type: "object", required: ["certificates"], properties: { certificates: { type: "array", items: ref("Certificate") } },
            }),
            403: forbidden,
            404: notFound,
          },
        },
      },
      "/users/{userId}/passcode": {
        post: {
          operationId: "reissuePasscode", summary: "Issue a new passcode", tags: ["users"],
          description: "The earlier passcode stops working; the new one is e-mailed to the user.",
          parameters: [userIdParam],
          requestBody: emptyBody,
          responses: {
            200: ok("The new passcode is sent.", {
              type: "object", required: ["userId", "passcodeExpiresAt"],
              properties: { userId: { type: "string" }, passcodeExpiresAt: dateTime },
            }),
            400: badJson(), 403: forbidden, 404: notFound, 413: tooLarge("64 KiB"), 415: unsupported,
          },
        },
      },
      "/users/{userId}/password-reset": {
        post: {
          operationId: "resetPassword", summary: "Set a new initial password", tags: ["users"],
          description: "The earlier password stops working, a login lock is lifted and the user's sessions end; the new initial password is e-mailed to the user.",
          parameters: [userIdParam],
          requestBody: emptyBody,
          responses: {
            200: ok("The new initial password is sent.", {
              type: "object", required: ["userId", "passwordExpiresAt"],
              properties: { userId: { type: "string" }, passwordExpiresAt: dateTime },
            }),
            400: badJson(), 403: forbidden, 404: notFound, 413: tooLarge("64 KiB"), 415: unsupported,
          },
        },
      },
      "/users/{userId}/unlock": {
        post: userAction("unlockUser", "Lift a login lock", "Clears the lock and the count of failed logins."),
      },
      "/users/{userId}/suspend": {
        post: userAction("suspendUser", "Suspend a user", "The user's certificates stop being accepted until resumed. An operator cannot suspend themselves.",
          problem("The body is not valid JSON, or an operator tried to suspend themselves.", ["FIELD_INVALID"])),
      },
      "/users/{userId}/resume": {
        post: userAction("resumeUser", "Resume a suspended user", "The user's certificates are accepted again."),
      },
      "/certificates/{serial}/revoke": {
        post: {
          operationId: "revokeCertificate", summary: "Revoke a certificate", tags: ["certificates"],
          parameters: [{
            name: "serial", in: "path", required: true,
            description: "The serial number in hexadecimal; colons, spaces and upper case are accepted.",
            schema: { type: "string", minLength: 1, maxLength: 200 },
          }],
          requestBody: {
            required: true,
            content: json({
              type: "object", required: ["reason"],
              properties: { reason: { type: "string", enum: [...REVOCATION_REASONS], description: "RFC 5280 CRLReason." } },
            }),
          },
          responses: {
            200: ok("The certificate, now revoked.", { type: "object", required: ["certificate"], properties: { certificate: ref("Certificate") } }),
            400: badJson(["REASON_INVALID"]),
            403: forbidden,
            409: problem("The serial number is not hexadecimal, no certificate has it, or it is already revoked.", ["REVOKE_NOT_POSSIBLE"]),
            413: tooLarge("64 KiB"),
            415: unsupported,
          },
        },
      },
      "/audit": {
        get: {
          operationId: "queryAudit", summary: "Search the audit log", tags: ["audit"],
          parameters: [
            { name: "user", in: "query", required: false, description: "Only events about this user ID.", schema: { type: "string", maxLength: 64 } },
            { name: "event", in: "query", required: false, description: "Only this event, e.g. `login`, `user.register`, `certificate.revoke`.", schema: { type: "string" } },
            { name: "since", in: "query", required: false, description: "Only events at or after this time (ISO 8601).", schema: dateTime },
            { name: "until", in: "query", required: false, description: "Only events before this time (ISO 8601).", schema: dateTime },
            { name: "limit", in: "query", required: false, description: "How many events (1–1000).", schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
          ],
          responses: {
            200: ok("The events, newest first.", { type: "object", required: ["events"], properties: { events: { type: "array", items: ref("AuditEvent") } } }),
            400: problem("`since` or `until` is not an ISO 8601 date-time.", ["FIELD_INVALID"]),
            403: forbidden,
          },
        },
      },
    },
    components: {
      securitySchemes: {
        clientCertificate: {
          type: "mutualTLS",
          description: "A TLS client certificate issued by the service's issuing CA to a registered, active user "
            + "(an operator for every route but POST /login). Browsers present it on their own, hence the Content-Type rule.",
        },
      },
      schemas: {
        User: {
          type: "object",
          required: [
            "userId", "email", "name", "organization", "lang", "role", "status", "locked", "lockedAt", "failedLogins",
            "passwordInitial", "passwordSetAt", "passwordExpiresAt", "lastLoginAt", "createdAt",
          ],
          properties: {
            userId: { type: "string", maxLength: 64 },
            email: { type: "string", format: "email", maxLength: 254 },
            name: { type: "string", maxLength: 100 },
            organization: { type: "string", maxLength: 200 },
            lang: { type: "string", enum: ["ja", "en"] },
            role: { type: "string", enum: ["user", "operator"] },
            status: { type: "string", enum: ["active", "suspended"] },
            locked: { type: "boolean", description: "Locked after too many wrong passwords." },
            lockedAt: dateTimeOrNull,
            failedLogins: { type: "integer", minimum: 0, description: "Wrong passwords in a row since the last login or unlock." },
            passwordInitial: { type: "boolean", description: "The password is still the initial one from the e-mail." },
            passwordSetAt: dateTimeOrNull,
            passwordExpiresAt: { ...dateTimeOrNull, description: "When the initial password stops working; null once the user chose one." },
            lastLoginAt: dateTimeOrNull,
            createdAt: dateTime,
          },
        },
        Certificate: {
          type: "object",
          required: ["serial", "userId", "subject", "notBefore", "notAfter", "fingerprint", "status", "revokedAt", "revocationReason"],
          properties: {
            serial: { type: "string", pattern: "^[0-9a-f]+$", description: "Lower-case hexadecimal." },
            userId: { type: ["string", "null"], description: "null for the service's own (server) certificates." },
            subject: { type: "string" },
            notBefore: dateTime,
            notAfter: dateTime,
            fingerprint: { type: "string", pattern: "^[0-9A-F]{2}(:[0-9A-F]{2})*$", description: "SHA-256 of the DER, upper-case hex pairs joined by colons." },
            status: { type: "string", enum: ["valid", "revoked"], description: "`valid` says only that it is not revoked: see notAfter." },
            revokedAt: dateTimeOrNull,
            revocationReason: { type: ["string", "null"], description: `RFC 5280 CRLReason name once revoked (${REVOCATION_REASONS.join(", ")}).` },
          },
        },
        AuditEvent: {
          type: "object",
          required: ["id", "at", "lastAt", "count", "actor", "event", "userId", "outcome", "detail"],
          description: "Identical events (same event, actor, user, outcome and detail) within 10 minutes are one record with a count.",
          properties: {
            id: { type: "integer" },
            at: { ...dateTime, description: "When the (first) event happened." },
            lastAt: { ...dateTime, description: "When the last of `count` identical events happened (= `at` when count is 1)." },
            count: { type: "integer", minimum: 1, description: "How many identical events this record stands for." },
            actor: { type: "string", maxLength: 100, description: "`operator:ID`, `user:ID` or `system`. A user ID nobody proved is `invalid:` and 12 hex digits of its SHA-256." },
            event: { type: "string", description: "Dotted name: `user.register`, `login`, `certificate.revoke`, …" },
            userId: { type: ["string", "null"], maxLength: 64, description: "The user ID, or `invalid:` and a hash when the client sent something that is not one." },
            outcome: { type: "string", enum: ["success", "failure"] },
            detail: {
              type: ["object", "null"],
              description: "At most 16 keys; text values at most 200 characters, with control and bidi characters written as `\\uXXXX`.",
              additionalProperties: { type: ["string", "number", "boolean", "null"] },
            },
          },
        },
        BulkRowResult: {
          type: "object",
          required: ["line", "userId", "outcome"],
          properties: {
            line: { type: "integer", minimum: 1, description: "Line of the file where the row starts." },
            userId: { type: "string", description: "Empty when the row could not be read." },
            outcome: { type: "string", enum: ["registered", "valid", "rejected"], description: "`valid`: a dry run found nothing wrong." },
            code: { type: "string", description: "Error code when rejected." },
            message: { type: "string", description: "English message when rejected." },
            messageJa: { type: "string", description: "Japanese message when rejected." },
          },
        },
        BulkResult: {
          type: "object",
          required: ["encoding", "dryRun", "rows", "registered", "rejected"],
          properties: {
            encoding: { type: "string", enum: ["utf-8", "utf-8-bom", "shift_jis"], description: "How the file was decoded." },
            dryRun: { type: "boolean" },
            rows: { type: "array", items: ref("BulkRowResult") },
            registered: { type: "integer", minimum: 0 },
            rejected: { type: "integer", minimum: 0 },
          },
        },
        LoginResult: {
          type: "object",
          required: ["outcome", "userId", "passwordChangeDue", "passwordExpiresAt", "certificate"],
          properties: {
            outcome: { type: "string", const: "ok" },
            userId: { type: "string" },
            passwordChangeDue: { type: "boolean", description: "The password is the initial one: the user must choose a new one at the portal." },
            passwordExpiresAt: { ...dateTimeOrNull, description: "When the initial password stops working; null unless passwordChangeDue." },
            certificate: {
              type: "object", required: ["serial", "notAfter"],
              properties: { serial: { type: "string" }, notAfter: dateTime },
              description: "The certificate presented.",
            },
          },
        },
        Problem: {
          type: "object",
          description: "RFC 9457 problem details, with the error code, the remedy and the helpdesk.",
          required: ["type", "title", "status", "code", "detail", "remedy", "helpdesk"],
          properties: {
            type: { type: "string", format: "uri", description: "`urn:shomei:error:` followed by the code." },
            title: { type: "string" },
            status: { type: "integer" },
            code: { type: "string", description: "e.g. CERT_REQUIRED, OPERATOR_ONLY, USER_NOT_FOUND." },
            detail: { type: "string" },
            remedy: { type: "string", description: "What to do about it." },
            helpdesk: { type: "string", description: "Whom to ask." },
          },
        },
      },
    },
  };
}
