// The service's API for the pages: one gRPC-Web transport on this origin, clients generated from
// the protos (src/gen, by `npm run generate`), and the credentials of the signed-in person.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { CatalogService } from "./gen/singlewindow/v1/catalog_service_pb.js";
import { CitizenService } from "./gen/singlewindow/v1/citizen_service_pb.js";
import { FeedbackService } from "./gen/singlewindow/v1/feedback_service_pb.js";
import { FormService } from "./gen/singlewindow/v1/form_service_pb.js";
import { RequestService } from "./gen/singlewindow/v1/request_service_pb.js";
import { RoutingService } from "./gen/singlewindow/v1/routing_service_pb.js";

/** Who is signed in: a citizen through the portal, or an agency officer at the desk. */
export type Session =
  | { kind: "citizen"; portalKey: string; citizenToken: string; citizen: string; name: string }
  | { kind: "officer"; key: string; principal: string };

export interface Clients {
  catalog: Client<typeof CatalogService>;
  citizens: Client<typeof CitizenService>;
  feedback: Client<typeof FeedbackService>;
  forms: Client<typeof FormService>;
  requests: Client<typeof RequestService>;
  routing: Client<typeof RoutingService>;
}

/** Clients that call as `session` (the public without one). */
export function clients(session: Session | null): Clients {
  const credentials: Interceptor = (next) => async (request) => {
    if (session?.kind === "citizen") {
      request.header.set("authorization", `Bearer ${session.portalKey}`);
      request.header.set("x-citizen-token", session.citizenToken);
    } else if (session?.kind === "officer") {
      request.header.set("authorization", `Bearer ${session.key}`);
    }
    return next(request);
  };
  const transport = createGrpcWebTransport({
    baseUrl: window.location.origin,
    interceptors: [credentials],
    defaultTimeoutMs: 15_000,
  });
  return {
    catalog: createClient(CatalogService, transport),
    citizens: createClient(CitizenService, transport),
    feedback: createClient(FeedbackService, transport),
    forms: createClient(FormService, transport),
    requests: createClient(RequestService, transport),
    routing: createClient(RoutingService, transport),
  };
}

/** A failed call, as the pages show it: the reason and each bad field the service named. */
export interface CallFailure {
  code: Code;
  reason: string;
  message: string;
  fields: { field: string; description: string }[];
}

export function failure(error: unknown): CallFailure {
  const e = ConnectError.from(error);
  const info = e.findDetails(ErrorInfoSchema)[0];
  const fields = e
    .findDetails(BadRequestSchema)
    .flatMap((b) => b.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
  return { code: e.code, reason: info?.reason ?? Code[e.code] ?? "UNKNOWN", message: e.rawMessage, fields };
}

/** A new idempotency key for a write (`request_id`). */
export function requestId(): string {
  return crypto.randomUUID();
}

/** The demo identity provider's sign-in list (served only by a server in demo mode). */
export interface DemoLine {
  principal: string;
  kind: string;
  token: string;
  citizen?: string;
  citizen_name?: string;
  citizen_token?: string;
}

export async function demoCredentials(): Promise<DemoLine[] | null> {
  const response = await fetch("/demo/credentials", { cache: "no-store" });
  if (!response.ok) return null;
  return (await response.json()) as DemoLine[];
}
