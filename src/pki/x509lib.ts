/**
 * The only module that imports @peculiar/x509: it needs reflect-metadata loaded first
 * (ESM evaluates imports in order), and its crypto provider set to Node's WebCrypto.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
