/**
 * Signed-note vectors from outside CTP, transcribed (values only):
 *
 *   golang/mod, sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestSign, TestOpen),
 *     commit 02c991387e35f9e4c0a9b7ce137717055f8d716d: keys of PeterNeumann and EnochRoot,
 *     the signed note Go's note.Sign produces, and the notes and keys note.Open and
 *     note.NewVerifier must refuse.
 *   C2SP/C2SP, signed-note.md (the example note), commit 055287621bf3cd13ff4394418a3e8efc2d5e8ed7,
 *     and tlog-checkpoint.md (the example checkpoint), commit 2793893976c835db049c194d8f2c4f946dcb70ba,
 *     and tlog-cosignature.md (the same checkpoint with a witness cosignature),
 *     commit 01194db11950a0ae2b2b2401afa0a4063a822458. Their signers' keys are not published:
 *     they show the format (a text with an empty line, extension-free checkpoint bodies,
 *     unknown signers to be skipped).
 */
export const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
/** Go's signer key encoding: PRIVATE+KEY+<name>+<hex id>+base64(0x01 || 32-byte Ed25519 seed). */
export const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
export const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';

export const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
export const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
export const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
/** What note.Sign(TEXT, PeterNeumann) returns (Ed25519 is deterministic). */
export const PETER_SIGNED = `${TEXT}\n${PETER_SIG}`;

/** Keys NewVerifier refuses: a wrong-length key and an unknown algorithm, each with its key id adjusted to match. */
export const BAD_VKEYS = [
  'PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==',
  'PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
];

/** Notes Open refuses as malformed, whatever the keys (TestOpen's badMsgs, and 101 signatures). */
export const MALFORMED_NOTES = [
  TEXT,
  `${TEXT}\n`,
  `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
  `\x01${TEXT}\n${PETER_SIG}`,
  `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
  `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
  `${TEXT}\n${PETER_SIG.repeat(101)}`,
];

/** The signed-note specification's example: its text holds an empty line; the last one separates the signatures. */
export const C2SP_NOTE =
  'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';
export const C2SP_NOTE_TEXT = 'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n';

/** The tlog-checkpoint example, and as cosigned in the tlog-cosignature example. */
export const C2SP_CHECKPOINT =
  'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';
export const C2SP_COSIGNED_CHECKPOINT = `${C2SP_CHECKPOINT}— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n`;
export const C2SP_CHECKPOINT_BODY = { origin: 'example.com/behind-the-sofa', size: 20852163, root: 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=' };
