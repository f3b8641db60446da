// Certificates for tests of TLS to the directory, made at test time with the openssl command: a CA,
// a server certificate for 127.0.0.1 and localhost signed by it, and one signed by it for another
// host (which a client must refuse). ECDSA P-256, valid for two days: nothing here outlives the run.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export interface TestCertificates {
  /** The CA's certificate (PEM), for LDAP_CA_FILE and slapd's TLSCACertificateFile. */
  caFile: string;
  /** For 127.0.0.1 and localhost. */
  server: CertificateFiles;
  /**
   * For wrong-host.example and connection-timeout.wrong-host.example only: right CA, wrong name. The
   * second name reads like a network error in Node's wrong-host message, as a certificate holder may choose.
   */
  wrongHost: CertificateFiles;
}

const openssl = async (args: string[]): Promise<void> => {
  await promisify(execFile)('openssl', args, { timeout: 20_000 });
};

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-days', '2'];

/** Writes the CA and the two server certificates (with their keys) into `dir`. */
export const makeTestCertificates = async (dir: string): Promise<TestCertificates> => {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = (name: string): string => path.join(dir, name);
  const caFile = file('ca.pem');
  await openssl(['req', '-x509', ...KEY, '-keyout', file('ca.key'), '-out', caFile, '-subj', '/CN=Keyper test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const issue = async (name: string, subject: string, names: string): Promise<CertificateFiles> => {
    const certificate = { certFile: file(`${name}.pem`), keyFile: file(`${name}.key`) };
    await openssl(['req', '-x509', ...KEY, '-CA', caFile, '-CAkey', file('ca.key'), '-keyout', certificate.keyFile, '-out', certificate.certFile,
      '-subj', `/CN=${subject}`, '-addext', `subjectAltName=${names}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth']);
    return certificate;
  };
  const [server, wrongHost] = await Promise.all([
    issue('server', '127.0.0.1', 'IP:127.0.0.1,DNS:localhost'),
    issue('wrong-host', 'wrong-host.example', 'DNS:wrong-host.example,DNS:connection-timeout.wrong-host.example'),
  ]);
  return { caFile, server, wrongHost };
};
