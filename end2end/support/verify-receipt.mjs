// Verifies a consent receipt the way a strict outside party would: with the
// `jose` library rather than the portal's own code, accepting only the
// fully-specified algorithm name Ed25519 (RFC 9864), and picking the key from
// the clinic's published JWK set by kid and alg. Prints the verified payload
// (the receipt's claims, JSON) on stdout; anything else is an error on stderr
// and exit status 1.
//
// Usage: node support/verify-receipt.mjs KEYS.json RECEIPT.jws
//   KEYS.json    the clinic's JWK set, as /c/{clinic}/consent-receipt-key
//                serves it (a single JWK is accepted too)
//   RECEIPT.jws  the compact JWS
import { readFile } from 'node:fs/promises';
import { compactVerify, createLocalJWKSet, importJWK } from 'jose';

const ALG = 'Ed25519';

async function main([keysPath, receiptPath]) {
  if (!keysPath || !receiptPath) {
    throw new Error('usage: node support/verify-receipt.mjs KEYS.json RECEIPT.jws');
  }
  const keys = JSON.parse(await readFile(keysPath, 'utf8'));
  const receipt = (await readFile(receiptPath, 'utf8')).trim();
  // A JWK set resolves the key from the receipt's header; jose then also
  // requires the key's own alg (when it has one) to be the header's.
  const key = Array.isArray(keys.keys) ? createLocalJWKSet(keys) : await importJWK(keys, ALG);
  const { payload, protectedHeader } = await compactVerify(receipt, key, { algorithms: [ALG] });
  if (protectedHeader.alg !== ALG) {
    throw new Error(`the receipt's alg is ${protectedHeader.alg}, not ${ALG}`);
  }
  process.stdout.write(new TextDecoder().decode(payload));
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`the receipt does not verify: ${error.code ?? ''} ${error.message}\n`);
  process.exitCode = 1;
});
