// A TCP proxy between the handlers and slapd that injects one fault at a chosen LDAP message, so
// that a multi-step write can be cut at each of its steps in turn. It splits the client's byte
// stream into LDAP messages (BER: SEQUENCE { messageID, protocolOp, ... }) and counts them from
// the moment a fault is armed, across connections:
// - drop:  closes the connection instead of forwarding message N (it never reaches slapd);
// - error: answers message N itself with an LDAP error result (slapd never sees it);
// - stall: forwards message N, then forwards nothing more on that connection in either direction
//          (slapd applies it, the client never hears back: the outcome is unknown to it).
// A fault fires once; later connections (an undo's fresh one) pass through untouched.
import net from 'node:net';
import { BerWriter } from 'ldapts';

export type FaultKind = 'drop' | 'error' | 'stall';

export interface Fault {
  kind: FaultKind;
  /** 1 = the first client message after arming. */
  at: number;
  /** For `error`: the LDAP result code to answer (default 80, "other"). */
  resultCode?: number;
}

/** LDAP protocolOp tags of requests, and the tag of the response that answers each. */
const OPERATIONS: Record<number, { name: string; write: boolean; response?: number }> = {
  0x60: { name: 'bind', write: false, response: 0x61 },
  0x42: { name: 'unbind', write: false },
  0x63: { name: 'search', write: false, response: 0x65 },
  0x66: { name: 'modify', write: true, response: 0x67 },
  0x68: { name: 'add', write: true, response: 0x69 },
  0x4a: { name: 'delete', write: true, response: 0x6b },
  0x6c: { name: 'modifyDN', write: true, response: 0x6d },
  0x6e: { name: 'compare', write: false, response: 0x6f },
  0x50: { name: 'abandon', write: false },
  0x77: { name: 'extended', write: true, response: 0x78 },
};

export interface Message {
  id: number;
  operation: string;
  write: boolean;
}

export interface FaultProxy {
  url: string;
  /** Arms one fault and starts counting messages from 1. */
  arm(fault: Fault): void;
  /** Starts counting (and recording) messages from 1 without a fault. */
  record(): void;
  /** Whether the armed fault has fired. */
  fired(): boolean;
  /** The client messages seen since the last arm() or record(). */
  messages(): Message[];
  close(): Promise<void>;
}

/** The length of the first complete BER element in `buffer`, or undefined when it is incomplete. */
const elementLength = (buffer: Buffer): number | undefined => {
  if (buffer.length < 2) return undefined;
  const first = buffer[1]!;
  let header = 2;
  let length = first;
  if (first & 0x80) {
    const octets = first & 0x7f;
    if (buffer.length < 2 + octets) return undefined;
    length = 0;
    for (let i = 0; i < octets; i += 1) length = length * 256 + buffer[2 + i]!;
    header += octets;
  }
  return buffer.length < header + length ? undefined : header + length;
};

/** The messageID and protocolOp tag of one LDAPMessage. */
const parseMessage = (message: Buffer): { id: number; tag: number } => {
  let offset = 1;
  const first = message[offset]!;
  offset += first & 0x80 ? 1 + (first & 0x7f) : 1;
  // messageID INTEGER: tag 0x02, short length, big-endian value.
  const idLength = message[offset + 1]!;
  let id = 0;
  for (let i = 0; i < idLength; i += 1) id = id * 256 + message[offset + 2 + i]!;
  return { id, tag: message[offset + 2 + idLength]! };
};

/** An LDAPResult answering request `id` (operation `tag`) with `resultCode`. */
const errorResult = (id: number, tag: number, resultCode: number): Buffer => {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeInt(id);
  writer.startSequence(OPERATIONS[tag]?.response ?? 0x65);
  writer.writeEnumeration(resultCode);
  writer.writeString('');
  writer.writeString('fault injected by the test proxy');
  writer.endSequence();
  writer.endSequence();
  return writer.buffer;
};

export const startFaultProxy = async (target: { host: string; port: number }): Promise<FaultProxy> => {
  let fault: Fault | undefined;
  let fired = false;
  let seen: Message[] = [];
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    let stalled = false;
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      socket.on('close', () => {
        sockets.delete(socket);
        close();
      });
    }
    upstream.on('data', (data: Buffer) => {
      if (!stalled) client.write(data);
    });
    client.on('data', (data: Buffer) => {
      if (stalled) return;
      pending = Buffer.concat([pending, data]);
      for (let length = elementLength(pending); length !== undefined; length = elementLength(pending)) {
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        const { id, tag } = parseMessage(message);
        const operation = OPERATIONS[tag] ?? { name: `op 0x${tag.toString(16)}`, write: false };
        seen.push({ id, operation: operation.name, write: operation.write });
        if (fault !== undefined && !fired && seen.length === fault.at) {
          fired = true;
          if (fault.kind === 'drop') return close();
          if (fault.kind === 'error') {
            client.write(errorResult(id, tag, fault.resultCode ?? 80));
            continue;
          }
          upstream.write(message);
          stalled = true;
          return;
        }
        upstream.write(message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    url: `ldap://127.0.0.1:${port}`,
    arm: (next) => {
      fault = next;
      fired = false;
      seen = [];
    },
    record: () => {
      fault = undefined;
      fired = false;
      seen = [];
    },
    fired: () => fired,
    messages: () => [...seen],
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
