// What audit lines say of values (lib/audit.ts): identities, never secrets.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { audit, identities, passwordModifyTarget } from '../../lib/audit.js';
import { newHostCredential } from '../../lib/hostcredentials.js';
import { parsePublicKey } from '../../lib/sshkeys.js';
import { passwordModifyRequest } from '../../lib/passwords.js';
import { ed25519Line } from '../../scripts/sshkey-lines.js';
import { captureLines } from '../log-lines.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('audit identities', () => {
  it('name a Password Modify request\'s entry, never its password', () => {
    const request = passwordModifyRequest('cn=alice,ou=people,dc=example,dc=org', 'hunter2 hunter2');
    expect(passwordModifyTarget(request)).toBe('cn=alice,ou=people,dc=example,dc=org');
    expect(passwordModifyTarget(Buffer.from('not BER'))).toBeUndefined();
    expect(identities('userPassword', ['{SSHA}abc'])).toEqual(['password changed']);
  });

  it('name keys and certificates by key id, serial and fingerprint; a bare key line by its fingerprint', () => {
    const line = ed25519Line('someone@laptop');
    const fp = parsePublicKey(line).fingerprint;
    expect(identities('sshPublicKey', [JSON.stringify({ keyid: 3, keytype: 0, key: line, fingerprint: fp, name: 'laptop' })])).toEqual([`key keyid 3 ${fp}`]);
    expect(identities('sshPublicKey', [JSON.stringify({ keyid: 4, key: line })])).toEqual([`key keyid 4 ${fp}`]);
    expect(identities('sshPublicKey', [JSON.stringify({ keyid: 100, keytype: 1, serial: '77', fingerprint: fp, cert: 'ssh-ed25519-cert-v01@openssh.com AAAA' })])).toEqual([`certificate keyid 100 serial 77 ${fp}`]);
    expect(identities('sshPublicKey', [line])).toEqual([fp]);
    expect(JSON.stringify(identities('sshPublicKey', [JSON.stringify({ keyid: 1, key: line }), line]))).not.toContain(line.split(' ')[1]);
  });

  it('say what a labeledURI value is, never its text', () => {
    const { stored } = newHostCredential();
    const said = identities('labeledURI', [stored, 'urn:keyper:session-generation:4:0d3c6c1e-8c1f-4f0e-9a43-2a0f1d0f9b11', 'urn:keyper:revoked-session:0d3c6c1e-8c1f-4f0e-9a43-2a0f1d0f9b11:1795789680', 'https://example.org']);
    expect(said).toEqual(['host credential', 'session generation', 'revoked session', 'labeledURI value']);
    expect(identities('someSecretToken', ['s3cr3t'])).toEqual(['value withheld']);
  });

  it('list DNs as written, and count what is past the first thousand', () => {
    const members = Array.from({ length: 1_002 }, (_, i) => `cn=u${i},ou=people,dc=example,dc=org`);
    const said = identities('member', members);
    expect(said.slice(0, 2)).toEqual(members.slice(0, 2));
    expect(said).toHaveLength(1_001);
    expect(said.at(-1)).toBe('and 2 more');
  });
});

describe('an audit line', () => {
  it('is written even when its change cannot be described, naming the entry', () => {
    const lines = captureLines();
    audit(() => {
      throw new Error('odd value');
    }, { dn: 'cn=x,dc=example,dc=org', outcome: 'done', undo: false });
    expect(lines).toEqual([expect.objectContaining({ message: 'audit', operation: 'unknown', dn: 'cn=x,dc=example,dc=org', error: 'Error: odd value', outcome: 'done' })]);
  });
});
