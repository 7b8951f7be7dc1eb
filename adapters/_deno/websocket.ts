/**
 * WebSockets on `Deno.serve`, through `Deno.upgradeWebSocket`, once the app
 * accepted one through rota's `upgradeWebSocket`: the 101 carries the app's
 * headers and the subprotocol it chose, as on Node and Bun.
 *
 * @module
 */

import {
  MAX_MESSAGE_BYTES,
  type ServerSocket,
  type SocketAcceptance,
  UPGRADE_NOT_FORWARDED,
} from "../../runtime/connection.ts";

interface DenoSocket {
  binaryType: string;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly protocol: string;
  onopen: (() => void) | null;
  onmessage: ((event: { data: string | ArrayBuffer }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: { error?: unknown; message?: string }) => void) | null;
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** The parts of the `Deno` global this file uses. */
interface DenoWebSocketApi {
  upgradeWebSocket(request: Request, options: { protocol?: string }): { socket: DenoSocket; response: Response };
}

const deno = (): DenoWebSocketApi => (globalThis as unknown as { Deno: DenoWebSocketApi }).Deno;

/** Counts the sockets open, from their open to their close. */
export interface SocketCount {
  add(): void;
  remove(): void;
}

/**
 * Complete the handshake of a WebSocket the app accepted.
 *
 * @param request The request `Deno.serve` handed over.
 * @param acceptance The socket's events and subprotocol.
 * @param answer The app's answer: a refusal (not 2xx) is sent as it is.
 * @param open Where the socket is counted once open.
 * @returns The 101 to send, or the app's refusal, or 400 for a handshake Deno rejects.
 */
export function upgradeAccepted(
  request: Request,
  acceptance: SocketAcceptance,
  answer: Response,
  open: SocketCount,
): Response {
  if (!answer.ok) return answer;
  void answer.body?.cancel();
  let upgraded: { socket: DenoSocket; response: Response };
  try {
    // The subprotocol is set below: Deno checks it against the offered list split on ", " only, and
    // refuses "a,b", which RFC 6455 allows.
    upgraded = deno().upgradeWebSocket(request, {});
  } catch {
    return new Response("not a valid WebSocket handshake", { status: 400 });
  }
  const headers = upgraded.response.headers;
  answer.headers.forEach((value, name) => {
    if (!UPGRADE_NOT_FORWARDED.has(name)) headers.append(name, value);
  });
  if (acceptance.protocol !== undefined) headers.set("sec-websocket-protocol", acceptance.protocol);
  wire(upgraded.socket, acceptance, open);
  return upgraded.response;
}

const encoder = new TextEncoder();

/** Whether a message is larger than a WebSocket takes on every runtime (a string's UTF-8 length counted only when it may be). */
function tooBig(data: string | ArrayBuffer): boolean {
  if (typeof data !== "string") return data.byteLength > MAX_MESSAGE_BYTES;
  return data.length * 3 > MAX_MESSAGE_BYTES && encoder.encode(data).byteLength > MAX_MESSAGE_BYTES;
}

function wire(ws: DenoSocket, { events, protocol }: SocketAcceptance, open: SocketCount): void {
  ws.binaryType = "arraybuffer";
  const socket: ServerSocket = {
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    // Deno's WebSocket cannot be dropped without its closing handshake: a peer that never answers it keeps
    // the socket until the worker exits, which follows the graceful timeout.
    terminate: () => ws.close(),
    get readyState() {
      return ws.readyState;
    },
    // Deno's server-side socket reports no subprotocol; the 101 carried this one.
    protocol: protocol ?? "",
    raw: ws,
  };
  // Counted from its open: a handshake whose client left before the 101 never opens, and never closes either.
  let opened = false;
  ws.onopen = () => {
    opened = true;
    open.add();
    events.open(socket);
  };
  ws.onmessage = ({ data }) => {
    // The same largest message as on Node and Bun (Deno's own limit is higher).
    if (tooBig(data)) return ws.close(1009, "message too big");
    events.message(data);
  };
  ws.onerror = (event) => events.error(event.error ?? new Error(event.message ?? "WebSocket error"));
  ws.onclose = ({ code, reason }) => {
    if (opened) open.remove();
    // Deno reports a dropped connection as 0; rota's contract (and the other runtimes) say 1006.
    events.close(code === 0 ? 1006 : code, reason);
  };
}
