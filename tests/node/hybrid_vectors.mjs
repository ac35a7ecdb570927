// Recomputes the fixed hybrid key-exchange vectors of tests/unit/test_hybrid.c
// with independent code: ML-KEM-768 from @noble/post-quantum, sntrup761 from
// @oqs/liboqs-js, X25519, SHA-256 and SHA-512 from node:crypto. For each
// hybrid it searches the first seed whose X25519 secret starts with 0x00 and
// the first whose secret starts with a byte >= 0x80, and prints, as JSON:
// SHA-256 of both messages, the encoded K, H and the six derived keys, with
// V_C = "SSH-2.0-c", V_S = "SSH-2.0-s", I_C = "ic", I_S = "is", K_S = "ks"
// and the session id equal to H.
//
//   node hybrid_vectors.mjs
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const nodeCrypto = require('node:crypto');

// liboqs reads randomness through node:crypto's randomFillSync (see
// kem_vectors.mjs); point it at a keystream while a KEM call runs.
let feeding = null;
const systemFill = nodeCrypto.randomFillSync;
nodeCrypto.randomFillSync = (buf, ...rest) => {
  if (!feeding) return systemFill(buf, ...rest);
  new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).set(feeding.take(buf.length));
  return buf;
};

class Keystream {
  constructor(key) { this.cipher = nodeCrypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16)); }
  take(n) { return this.cipher.update(Buffer.alloc(n)); }
}

const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
function x25519(priv) {
  const key = nodeCrypto.createPrivateKey({ key: Buffer.concat([X25519_PKCS8, priv]), format: 'der', type: 'pkcs8' });
  return { key, pub: nodeCrypto.createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32) };
}
function x25519Shared(mine, peerPub) {
  const publicKey = nodeCrypto.createPublicKey({ key: Buffer.concat([X25519_SPKI, peerPub]), format: 'der', type: 'spki' });
  return nodeCrypto.diffieHellman({ privateKey: mine.key, publicKey });
}

const digest = (alg, b) => nodeCrypto.createHash(alg).update(b).digest();
const string = (b) => { const len = Buffer.alloc(4); len.writeUInt32BE(b.length); return Buffer.concat([len, Buffer.from(b)]); };

function transcript(hash, qc, qs, kpq, kcl) {
  const kenc = string(digest(hash, Buffer.concat([kpq, kcl])));
  const H = digest(hash, Buffer.concat(['SSH-2.0-c', 'SSH-2.0-s', 'ic', 'is', 'ks'].map(string)
    .concat([string(qc), string(qs), kenc])));
  const keys = ['A', 'B', 'C', 'D', 'E', 'F'].map((l) => digest(hash, Buffer.concat([kenc, H, Buffer.from(l), H])).toString('hex'));
  return { qc: digest('sha256', qc).toString('hex'), qs: digest('sha256', qs).toString('hex'),
           kenc: kenc.toString('hex'), H: H.toString('hex'), keys };
}

// mlkem768x25519-sha256: every random request is a constant fill: d || z =
// seed, client X25519 = seed + 1 with t in its first two bytes, m = seed + 2,
// server X25519 = seed + 3.
async function mlkemVector(seed, wanted) {
  const { ml_kem768 } = await import('@noble/post-quantum/ml-kem.js');
  for (let t = 0; t < 65536; t++) {
    const cpriv = Buffer.alloc(32, seed + 1); cpriv[0] = t & 255; cpriv[1] = t >> 8;
    const cx = x25519(cpriv), sx = x25519(Buffer.alloc(32, seed + 3));
    const kcl = x25519Shared(sx, cx.pub);
    if (!wanted(kcl[0])) continue;
    const { publicKey: ek } = ml_kem768.keygen(Buffer.alloc(64, seed));
    const { cipherText: ct, sharedSecret: kpq } = ml_kem768.encapsulate(ek, Buffer.alloc(32, seed + 2));
    return { seed, t, kcl0: kcl[0], ...transcript('sha256', Buffer.concat([ek, cx.pub]), Buffer.concat([ct, sx.pub]), kpq, kcl) };
  }
}

// sntrup761x25519-sha512: AES-256-CTR keystreams keyed [t & 255, t >> 8,
// fill x 30] for the client (key generation, then X25519) and fill + 1 for
// the server (encapsulation, then X25519).
async function sntrupVector(fill, wanted) {
  const { createSntrup761 } = await import('@oqs/liboqs-js');
  const kem = await createSntrup761();
  const streamKey = (t, f) => { const k = Buffer.alloc(32, f); k[0] = t & 255; k[1] = t >> 8; return k; };
  for (let t = 0; t < 65536; t++) {
    const client = new Keystream(streamKey(t, fill)), server = new Keystream(streamKey(t, fill + 1));
    feeding = client;
    const { publicKey: pk, secretKey: sk } = kem.generateKeyPair();
    feeding = server;
    const { ciphertext: ct, sharedSecret: kpq } = kem.encapsulate(pk);
    feeding = null;
    const cx = x25519(client.take(32)), sx = x25519(server.take(32));
    const kcl = x25519Shared(sx, cx.pub);
    if (!wanted(kcl[0])) continue;
    if (Buffer.compare(Buffer.from(kpq), Buffer.from(kem.decapsulate(ct, sk)))) throw new Error('liboqs round trip');
    return { seed: fill, t, kcl0: kcl[0], ...transcript('sha512', Buffer.concat([pk, cx.pub]), Buffer.concat([ct, sx.pub]), kpq, kcl) };
  }
}

const zero = (b) => b === 0, high = (b) => b >= 0x80;
console.log(JSON.stringify({
  'mlkem768x25519-sha256': [await mlkemVector(0x11, zero), await mlkemVector(0x21, high)],
  'sntrup761x25519-sha512': [await sntrupVector(0x31, zero), await sntrupVector(0x41, high)],
}, null, 1));
