/** @peculiar/x509 in the browser: reflect-metadata first, and the page's own WebCrypto. */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
