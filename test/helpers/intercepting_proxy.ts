/**
 * A TLS-intercepting CONNECT proxy for tests. It stands in for a corporate TLS-inspection
 * product (an "SSL inspection" proxy or security suite): it accepts the tunnel, ends the
 * client's TLS itself with a certificate from its OWN throwaway CA (made here with our
 * src/ca functions, trusted by nobody), opens its own TLS connection to the real server and
 * relays the plaintext between the two. No such product can run in a test, so this is ours.
 */
import { makeTestCa } from "./client_pki.js";
import { startTestProxy, type TestProxy } from "./client_proxy.js";

export interface InterceptingProxy extends TestProxy {
  /** The subject of the throwaway CA that signs what the client sees. */
  readonly caOrganization: string;
}

export async function startInterceptingProxy(): Promise<InterceptingProxy> {
  const caOrganization = "Example Security Gateway";
  const fake = await makeTestCa({ organization: caOrganization, hostnames: ["localhost", "127.0.0.1"] });
  const proxy = await startTestProxy({ intercept: { keyPem: fake.tlsKeyPem, certPem: fake.tlsChainPem } });
  return { ...proxy, caOrganization };
}
