// Prints the same deterministic KEM vectors as build/tests/kemvec, computed
// by independent implementations: ML-KEM-768 from @noble/post-quantum and
// sntrup761 from @oqs/liboqs-js (liboqs compiled to WebAssembly).
//
//   node kem_vectors.mjs mlkem N    i ek dk ct K K_reject
//   node kem_vectors.mjs sntrup N   i pk sk ct K K_corrupted
//
// The randomness scheme is described in tests/tools/kemvec.c: one
// AES-256-CTR keystream (zero IV) keyed by SHA-256 of a label. liboqs draws
// its randomness through Emscripten, which calls node:crypto's
// randomFillSync; while a vector is computed that function is pointed at
// the keystream, so liboqs consumes exactly the bytes whelk's C code does,
// in the same order, provided both make the same requests.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const nodeCrypto = require('node:crypto');

class Keystream {
  constructor(label) {
    const key = nodeCrypto.createHash('sha256').update(label).digest();
    this.cipher = nodeCrypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }
  take(n) { return this.cipher.update(Buffer.alloc(n)); }
}

let feeding = null; // the keystream liboqs reads while a vector is computed
const systemFill = nodeCrypto.randomFillSync;
nodeCrypto.randomFillSync = (buf, ...rest) => {
  if (!feeding) return systemFill(buf, ...rest);
  const bytes = feeding.take(buf.length);
  new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).set(bytes);
  return buf;
};

const hex = (b) => Buffer.from(b).toString('hex');
const out = [];
const flush = () => { process.stdout.write(out.join('')); out.length = 0; };

async function mlkem(count) {
  const { ml_kem768 } = await import('@noble/post-quantum/ml-kem.js');
  const ks = new Keystream('whelk mlkem768 vectors');
  for (let i = 0; i < count; i++) {
    const d = ks.take(32), z = ks.take(32), m = ks.take(32);
    const randomCt = ks.take(1088);
    const { publicKey: ek, secretKey: dk } = ml_kem768.keygen(Buffer.concat([d, z]));
    const { cipherText: ct, sharedSecret: k } = ml_kem768.encapsulate(ek, m);
    const k2 = ml_kem768.decapsulate(ct, dk);
    if (hex(k) !== hex(k2)) throw new Error(`noble ML-KEM round trip failed at ${i}`);
    const krej = ml_kem768.decapsulate(randomCt, dk);
    out.push(`${i} ${hex(ek)} ${hex(dk)} ${hex(ct)} ${hex(k)} ${hex(krej)}\n`);
    if (out.length >= 50) flush();
  }
}

async function sntrup(count) {
  const { createSntrup761 } = await import('@oqs/liboqs-js');
  const kem = await createSntrup761();
  const ks = new Keystream('whelk sntrup761 vectors');
  for (let i = 0; i < count; i++) {
    feeding = ks;
    const { publicKey: pk, secretKey: sk } = kem.generateKeyPair();
    const { ciphertext: ct, sharedSecret: k } = kem.encapsulate(pk);
    feeding = null;
    const k2 = kem.decapsulate(ct, sk);
    if (hex(k) !== hex(k2)) throw new Error(`liboqs sntrup761 round trip failed at ${i}`);
    const pick = ks.take(3);
    const pos = (pick[0] | (pick[1] << 8)) % 1039;
    const bad = Uint8Array.from(ct);
    bad[pos] ^= pick[2] | 1;
    const kbad = kem.decapsulate(bad, sk);
    out.push(`${i} ${hex(pk)} ${hex(sk)} ${hex(ct)} ${hex(k)} ${hex(kbad)}\n`);
    if (out.length >= 50) flush();
  }
  kem.destroy?.();
}

const [which, n] = process.argv.slice(2);
const count = Number(n);
if (!['mlkem', 'sntrup'].includes(which) || !(count > 0)) {
  console.error('usage: node kem_vectors.mjs mlkem|sntrup COUNT');
  process.exit(2);
}
await (which === 'mlkem' ? mlkem(count) : sntrup(count));
flush();
