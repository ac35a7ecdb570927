// sshkex: a minimal SSH client that performs the post-quantum hybrid key
// exchanges over the wire, because no installed client speaks
// mlkem768x25519-sha256. Per connection it:
//
//   1. exchanges identification lines and KEXINITs (offering only the chosen
//      hybrid, ssh-ed25519, one AES-GCM cipher and strict kex),
//   2. sends KEM public key || X25519 public key (SSH_MSG_KEX_ECDH_INIT),
//   3. checks the reply's lengths, decapsulates, computes
//      K = HASH(K_PQ || K_CL) as an SSH string and the exchange hash H,
//      and verifies the server's Ed25519 signature over H (and, with
//      --hostkey-pub, that the host key is the expected one),
//   4. completes NEWKEYS under strict kex (nothing else may arrive; sequence
//      numbers restart at 0 in both directions),
//   5. sends SERVICE_REQUEST "ssh-userauth" encrypted, and decrypts and
//      authenticates the server's first encrypted packet, which must be
//      SERVICE_ACCEPT.
//
// KEMs: ML-KEM-768 from @noble/post-quantum; sntrup761 from @oqs/liboqs-js.
// Everything else (X25519, SHA-2, Ed25519, AES-GCM) is node:crypto.
//
//   node sshkex.mjs --port N --kex NAME [--host 127.0.0.1] [--count C]
//        [--hostkey-pub FILE] [--verbose]
//        [--cipher aes256-gcm@openssh.com|aes128-gcm@openssh.com|chacha20-poly1305@openssh.com]
//
// --reject MODE sends a malformed client value instead (truncated,
// oversized, zero-x25519, or bad-ek for ML-KEM: a coefficient >= q) and
// counts the exchange as ok only if the server answers with DISCONNECT
// reason 3, KEY_EXCHANGE_FAILED.
//
// --keep-seq skips the client's own sequence-number restart after NEWKEYS;
// with chacha20-poly1305 the server must then fail to authenticate the
// first encrypted packet (a check that the server enforces strict kex).
//
// Prints "ok=N failed=M kex=NAME" and exits 0 only when M is 0. With
// WHELK_KEXTEST_CORRUPT=1 the client flips one bit of K before hashing, so
// the signature check must fail: a self-test of the checks above.
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';

// @noble/post-quantum draws randomness from the global Web Crypto, which
// Node.js 18 (Debian 12's nodejs) does not expose by default; later
// versions do.
if (!globalThis.crypto) globalThis.crypto = crypto.webcrypto;

const MSG = { DISCONNECT: 1, IGNORE: 2, SERVICE_REQUEST: 5, SERVICE_ACCEPT: 6, EXT_INFO: 7,
              KEXINIT: 20, NEWKEYS: 21, KEX_ECDH_INIT: 30, KEX_ECDH_REPLY: 31 };
const VERSION = 'SSH-2.0-whelk_kextest';

// --- wire encoding ---------------------------------------------------------

const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const string = (b) => { const buf = Buffer.from(b); return Buffer.concat([u32(buf.length), buf]); };

class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  need(n) { if (this.pos + n > this.buf.length) throw new Error('truncated message'); }
  byte() { this.need(1); return this.buf[this.pos++]; }
  bytes(n) { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  u32() { this.need(4); const v = this.buf.readUInt32BE(this.pos); this.pos += 4; return v; }
  string() { return this.bytes(this.u32()); }
  nameList() { return this.string().toString('latin1').split(',').filter(Boolean); }
}

// --- the two KEMs behind one shape ------------------------------------------

async function loadKem(kex) {
  if (kex === 'mlkem768x25519-sha256') {
    const { ml_kem768 } = await import('@noble/post-quantum/ml-kem.js');
    return { hash: 'sha256', pkLen: 1184, ctLen: 1088,
             keygen: () => ml_kem768.keygen(),
             decaps: (ct, sk) => ml_kem768.decapsulate(ct, sk) };
  }
  if (kex === 'sntrup761x25519-sha512' || kex === 'sntrup761x25519-sha512@openssh.com') {
    const { createSntrup761 } = await import('@oqs/liboqs-js');
    const kem = await createSntrup761();
    return { hash: 'sha512', pkLen: 1158, ctLen: 1039,
             keygen: () => kem.generateKeyPair(),
             decaps: (ct, sk) => kem.decapsulate(ct, sk) };
  }
  throw new Error(`unknown kex ${kex}`);
}

// --- X25519 and Ed25519 from raw bytes --------------------------------------

const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const rawPublic = (key) => key.export({ format: 'der', type: 'spki' }).subarray(-32);
const publicFromRaw = (prefix, raw) =>
  crypto.createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });

// --- a connection: bytes in, lines and packets out ---------------------------

class Connection {
  constructor(socket) {
    this.socket = socket;
    this.input = Buffer.alloc(0);
    this.waiter = null;
    this.closed = null;
    this.seqIn = 0;
    this.seqOut = 0;
    this.recvKeys = null; // { key, iv } once NEWKEYS has been received
    this.sendKeys = null;
    socket.on('data', (d) => { this.input = Buffer.concat([this.input, d]); this.wake(); });
    socket.on('close', () => { this.closed = this.closed || new Error('connection closed by server'); this.wake(); });
    socket.on('error', (e) => { this.closed = e; this.wake(); });
  }

  wake() { const w = this.waiter; this.waiter = null; if (w) w(); }

  async waitFor(n) {
    while (this.input.length < n) {
      if (this.closed) throw this.closed;
      await new Promise((resolve) => { this.waiter = resolve; });
    }
  }

  take(n) { const b = this.input.subarray(0, n); this.input = this.input.subarray(n); return b; }

  // The server's identification line; lines before it are allowed (RFC 4253
  // section 4.2) and bounded.
  async readVersion() {
    for (let lines = 0; lines < 50; lines++) {
      let nl;
      while ((nl = this.input.indexOf(10)) < 0) {
        if (this.input.length > 8192) throw new Error('identification line too long');
        await this.waitFor(this.input.length + 1);
      }
      const line = this.take(nl + 1).toString('latin1').replace(/\r?\n$/, '');
      if (line.startsWith('SSH-')) {
        if (!line.startsWith('SSH-2.0-')) throw new Error(`unsupported version ${line}`);
        return line;
      }
    }
    throw new Error('no identification line');
  }

  send(payload) {
    const block = 16;
    let pad = block - ((5 + payload.length) % block);
    if (pad < 4) pad += block;
    if (!this.sendKeys) {
      const packet = Buffer.concat([u32(1 + payload.length + pad), Buffer.from([pad]), payload, crypto.randomBytes(pad)]);
      this.socket.write(packet);
    } else if (this.sendKeys.chacha) {
      // chacha20-poly1305@openssh.com: the length is encrypted with the
      // header key, the rest with the main key from block 1, and Poly1305
      // (keyed by block 0) covers both; the sequence number is the nonce,
      // so a peer that did not restart its numbering cannot authenticate.
      pad = 8 - ((1 + payload.length) % 8);
      if (pad < 4) pad += 8;
      const k = this.sendKeys;
      const length = chacha(k.header, this.seqOut, 0, u32(1 + payload.length + pad));
      const body = chacha(k.main, this.seqOut, 1, Buffer.concat([Buffer.from([pad]), payload, crypto.randomBytes(pad)]));
      const tag = poly1305(chacha(k.main, this.seqOut, 0, Buffer.alloc(32)), Buffer.concat([length, body]));
      this.socket.write(Buffer.concat([length, body, tag]));
    } else {
      // aes-gcm@openssh.com: the length is sent in the clear as AAD and
      // padding makes the encrypted part a multiple of 16.
      pad = block - ((1 + payload.length) % block);
      if (pad < 4) pad += block;
      const length = u32(1 + payload.length + pad);
      const plain = Buffer.concat([Buffer.from([pad]), payload, crypto.randomBytes(pad)]);
      const c = crypto.createCipheriv(this.sendKeys.alg, this.sendKeys.key, this.sendKeys.iv);
      c.setAAD(length);
      const body = Buffer.concat([c.update(plain), c.final()]);
      this.socket.write(Buffer.concat([length, body, c.getAuthTag()]));
      incrementInvocation(this.sendKeys.iv);
    }
    this.seqOut = (this.seqOut + 1) >>> 0;
  }

  async recv() {
    await this.waitFor(4);
    const k = this.recvKeys;
    const length = k && k.chacha
      ? chacha(k.header, this.seqIn, 0, this.input.subarray(0, 4)).readUInt32BE(0)
      : this.input.readUInt32BE(0);
    if (length < 5 || length > 256 * 1024) throw new Error(`bad packet length ${length}`);
    let plain;
    if (k && k.chacha) {
      await this.waitFor(4 + length + 16);
      const packet = this.take(4 + length + 16);
      const want = poly1305(chacha(k.main, this.seqIn, 0, Buffer.alloc(32)), packet.subarray(0, 4 + length));
      if (!crypto.timingSafeEqual(want, packet.subarray(4 + length)))
        throw new Error(`Poly1305 tag check failed on an encrypted packet (sequence number ${this.seqIn})`);
      plain = chacha(k.main, this.seqIn, 1, packet.subarray(4, 4 + length));
    } else if (!this.recvKeys) {
      await this.waitFor(4 + length);
      plain = this.take(4 + length).subarray(4);
    } else {
      if (length % 16) throw new Error('encrypted length not a multiple of 16');
      await this.waitFor(4 + length + 16);
      const packet = this.take(4 + length + 16);
      const d = crypto.createDecipheriv(this.recvKeys.alg, this.recvKeys.key, this.recvKeys.iv);
      d.setAAD(packet.subarray(0, 4));
      d.setAuthTag(packet.subarray(4 + length));
      try {
        plain = Buffer.concat([d.update(packet.subarray(4, 4 + length)), d.final()]);
      } catch {
        throw new Error('AES-GCM tag check failed on an encrypted packet');
      }
      incrementInvocation(this.recvKeys.iv);
    }
    const pad = plain[0];
    if (pad < 4 || pad + 1 > plain.length) throw new Error('bad padding length');
    this.seqIn = (this.seqIn + 1) >>> 0;
    return plain.subarray(1, plain.length - pad);
  }
}

// The last 8 bytes of the GCM nonce are a big-endian invocation counter.
function incrementInvocation(iv) {
  for (let i = 11; i >= 4; i--) { iv[i] = (iv[i] + 1) & 0xff; if (iv[i] !== 0) break; }
}

// The original ChaCha20 (64-bit block counter, 64-bit nonce) through
// OpenSSL's, whose 16-byte IV is the state's words 12..15: counter low,
// counter high, then the nonce, here the sequence number big-endian.
function chacha(key, seq, counter, data) {
  const iv = Buffer.alloc(16);
  iv.writeUInt32LE(counter, 0);
  iv.writeUInt32BE(seq >>> 0, 12);
  const c = crypto.createCipheriv('chacha20', key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

// Poly1305 (RFC 8439 section 2.5) over BigInt: node:crypto has no
// one-shot Poly1305, and speed does not matter for a few packets.
function poly1305(key, msg) {
  const le = (b) => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'));
  const p = (1n << 130n) - 5n;
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = le(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16);
    acc = ((acc + le(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  const tag = (acc + s) & ((1n << 128n) - 1n);
  return Buffer.from(tag.toString(16).padStart(32, '0'), 'hex').reverse();
}

// --- one exchange -----------------------------------------------------------

function malformed(qc, mode, kem) {
  const bad = Buffer.from(qc);
  switch (mode) {
    case 'truncated': return bad.subarray(0, bad.length - 1);
    case 'oversized': return Buffer.concat([bad, Buffer.from([0])]);
    case 'zero-x25519': bad.fill(0, kem.pkLen); return bad;
    case 'bad-ek': // the first 12-bit coefficient becomes 4095 >= q
      if (kem.pkLen !== 1184) throw new Error('bad-ek applies to ML-KEM only');
      bad[0] = 0xff; bad[1] |= 0x0f; return bad;
    default: throw new Error(`unknown --reject mode ${mode}`);
  }
}

async function exchange(opts, kem) {
  const socket = net.connect({ host: opts.host, port: opts.port });
  socket.setNoDelay(true);
  const conn = new Connection(socket);
  const timer = setTimeout(() => { conn.closed = new Error('timed out after 10 s'); conn.wake(); socket.destroy(); }, 10000);
  try {
    // 'close' rather than 'error': the timeout destroys the socket without an
    // error, and a connect that never completes must still end as a failure.
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('close', () => reject(conn.closed || new Error('connection closed before it was established')));
    });
    socket.write(VERSION + '\r\n');
    const serverVersion = await conn.readVersion();

    const cipherKeyLen = opts.cipher === 'aes128-gcm@openssh.com' ? 16 : 32;
    const lists = [`${opts.kex},kex-strict-c-v00@openssh.com`, 'ssh-ed25519', opts.cipher, opts.cipher,
                   'hmac-sha2-256', 'hmac-sha2-256', 'none', 'none', '', ''];
    const myKexinit = Buffer.concat([Buffer.from([MSG.KEXINIT]), crypto.randomBytes(16),
                                     ...lists.map((l) => string(l)), Buffer.from([0]), u32(0)]);
    conn.send(myKexinit);

    // Strict kex: the server's first packet must be its KEXINIT.
    const serverKexinit = Buffer.from(await conn.recv());
    if (serverKexinit[0] !== MSG.KEXINIT) throw new Error(`first packet was message ${serverKexinit[0]}, not KEXINIT`);
    const r = new Reader(serverKexinit);
    r.byte(); r.bytes(16);
    const offered = Array.from({ length: 10 }, () => r.nameList());
    if (!offered[0].includes(opts.kex)) throw new Error(`server does not offer ${opts.kex}`);
    if (!offered[0].includes('kex-strict-s-v00@openssh.com')) throw new Error('server does not offer strict kex');
    if (!offered[1].includes('ssh-ed25519')) throw new Error('server has no ssh-ed25519 host key');
    if (!offered[2].includes(opts.cipher) || !offered[3].includes(opts.cipher)) throw new Error(`server lacks ${opts.cipher}`);
    if (r.byte() !== 0) throw new Error('server guessed a kex packet');

    const { publicKey: kemPk, secretKey: kemSk } = kem.keygen();
    const x = crypto.generateKeyPairSync('x25519');
    let qc = Buffer.concat([Buffer.from(kemPk), rawPublic(x.publicKey)]);
    if (opts.reject) qc = malformed(qc, opts.reject, kem);
    conn.send(Buffer.concat([Buffer.from([MSG.KEX_ECDH_INIT]), string(qc)]));

    const reply = Buffer.from(await conn.recv());
    if (opts.reject) {
      if (reply[0] !== MSG.DISCONNECT) throw new Error(`malformed value answered by message ${reply[0]}, not DISCONNECT`);
      const reason = new Reader(reply.subarray(1)).u32();
      if (reason !== 3) throw new Error(`DISCONNECT reason ${reason}, not 3 (KEY_EXCHANGE_FAILED)`);
      return;
    }
    if (reply[0] !== MSG.KEX_ECDH_REPLY) throw new Error(`expected KEX_ECDH_REPLY, got message ${reply[0]}`);
    const rr = new Reader(reply);
    rr.byte();
    const hostKeyBlob = Buffer.from(rr.string());
    const qs = Buffer.from(rr.string());
    const sigBlob = Buffer.from(rr.string());
    if (qs.length !== kem.ctLen + 32) throw new Error(`server value is ${qs.length} bytes, not ${kem.ctLen + 32}`);

    const kpq = Buffer.from(kem.decaps(Uint8Array.from(qs.subarray(0, kem.ctLen)), kemSk));
    const kcl = crypto.diffieHellman({ privateKey: x.privateKey, publicKey: publicFromRaw(X25519_SPKI, qs.subarray(kem.ctLen)) });
    if (kcl.every((b) => b === 0)) throw new Error('all-zero X25519 result');
    const k = crypto.createHash(kem.hash).update(Buffer.concat([kpq, kcl])).digest();
    if (process.env.WHELK_KEXTEST_CORRUPT === '1') k[0] ^= 1;
    const kEnc = string(k);
    const H = crypto.createHash(kem.hash).update(Buffer.concat([
      string(VERSION), string(serverVersion), string(myKexinit), string(serverKexinit),
      string(hostKeyBlob), string(qc), string(qs), kEnc])).digest();
    if (opts.verbose) process.stderr.write(`H = ${H.toString('hex')}\n`);

    const hk = new Reader(hostKeyBlob);
    if (hk.string().toString() !== 'ssh-ed25519') throw new Error('host key is not ssh-ed25519');
    const hostPub = Buffer.from(hk.string());
    if (opts.expectedHostKey && !hostKeyBlob.equals(opts.expectedHostKey)) throw new Error('host key differs from --hostkey-pub');
    const sr = new Reader(sigBlob);
    if (sr.string().toString() !== 'ssh-ed25519') throw new Error('signature is not ssh-ed25519');
    const sig = Buffer.from(sr.string());
    if (!crypto.verify(null, H, publicFromRaw(ED25519_SPKI, hostPub), sig)) throw new Error('host key signature over H does not verify');

    // RFC 4253 section 7.2, with K as the string it was hashed as.
    const derive = (letter, len) => {
      let out = crypto.createHash(kem.hash).update(Buffer.concat([kEnc, H, Buffer.from(letter), H])).digest();
      while (out.length < len) out = Buffer.concat([out, crypto.createHash(kem.hash).update(Buffer.concat([kEnc, H, out])).digest()]);
      return out.subarray(0, len);
    };
    const alg = cipherKeyLen === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
    // chacha20-poly1305: 64 bytes of key, the main key then the header key.
    const keysFor = (ivLetter, keyLetter) => {
      if (opts.cipher !== 'chacha20-poly1305@openssh.com')
        return { alg, iv: Buffer.from(derive(ivLetter, 12)), key: derive(keyLetter, cipherKeyLen) };
      const k = derive(keyLetter, 64);
      return { chacha: true, main: Buffer.from(k.subarray(0, 32)), header: Buffer.from(k.subarray(32, 64)) };
    };

    conn.send(Buffer.from([MSG.NEWKEYS]));
    if (!opts.keepSeq) conn.seqOut = 0; // strict kex: restart after sending NEWKEYS
    conn.sendKeys = keysFor('A', 'C');
    const newkeys = await conn.recv();
    if (newkeys[0] !== MSG.NEWKEYS || newkeys.length !== 1) throw new Error(`expected NEWKEYS, got message ${newkeys[0]}`);
    conn.seqIn = 0; // and after receiving it
    conn.recvKeys = keysFor('B', 'D');

    conn.send(Buffer.concat([Buffer.from([MSG.SERVICE_REQUEST]), string('ssh-userauth')]));
    const first = Buffer.from(await conn.recv());
    if (first[0] !== MSG.SERVICE_ACCEPT) throw new Error(`first encrypted packet was message ${first[0]}, not SERVICE_ACCEPT`);
    const service = new Reader(first);
    service.byte();
    if (service.string().toString() !== 'ssh-userauth') throw new Error('SERVICE_ACCEPT for the wrong service');
    if (conn.seqIn !== 1 || conn.seqOut !== 1) throw new Error('sequence numbers did not restart at NEWKEYS');

    conn.send(Buffer.concat([Buffer.from([MSG.DISCONNECT]), u32(11), string('kex test done'), string('')]));
  } finally {
    clearTimeout(timer);
    socket.end();
    socket.destroy();
  }
}

// --- command line -----------------------------------------------------------

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, kex: '', count: 1, cipher: 'aes256-gcm@openssh.com', verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i];
    if (a === '--host') opts.host = v();
    else if (a === '--port') opts.port = Number(v());
    else if (a === '--kex') opts.kex = v();
    else if (a === '--count') opts.count = Number(v());
    else if (a === '--cipher') opts.cipher = v();
    else if (a === '--hostkey-pub') {
      const fields = fs.readFileSync(v(), 'utf8').trim().split(/\s+/);
      opts.expectedHostKey = Buffer.from(fields[1], 'base64');
    } else if (a === '--reject') opts.reject = v();
    else if (a === '--keep-seq') opts.keepSeq = true;
    else if (a === '--verbose') opts.verbose = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (!opts.port || !opts.kex || !(opts.count > 0)) throw new Error('usage: sshkex.mjs --port N --kex NAME [--count C]');
  if (!['aes256-gcm@openssh.com', 'aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com'].includes(opts.cipher))
    throw new Error(`unsupported cipher ${opts.cipher}`);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const kem = await loadKem(opts.kex);
let ok = 0, failed = 0;
for (let i = 0; i < opts.count; i++) {
  try {
    await exchange(opts, kem);
    ok++;
  } catch (e) {
    failed++;
    process.stderr.write(`exchange ${i + 1}: ${e.message}\n`);
  }
}
console.log(`ok=${ok} failed=${failed} kex=${opts.kex}`);
process.exit(failed === 0 ? 0 : 1);
