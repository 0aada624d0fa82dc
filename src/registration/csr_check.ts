/**
 * The request check enrollment and renewal share: parse and verify the CSR (pki/csr.ts, the
 * hot path's key import), and audit a refusal with its code before it goes back to the client.
 */
import { isShomeiError } from "../i18n/errors.js";
import { parseCsrAsync, type CsrPolicy, type ParsedCsr } from "../pki/csr.js";

/** The parsed request, or the refusal thrown after `auditRefusal(code)` recorded it. */
export async function checkedCsr(der: Uint8Array, policy: CsrPolicy | undefined, auditRefusal: (code: string) => Promise<void>): Promise<ParsedCsr> {
  try {
    return await parseCsrAsync(der, policy);
  } catch (e) {
    if (isShomeiError(e)) await auditRefusal(e.code);
    throw e;
  }
}
