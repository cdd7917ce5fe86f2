// Starts fauxqs (a local SQS server) on 127.0.0.1 only; the fauxqs CLI would
// bind every interface. Usage: node start.mjs PORT
import { buildApp } from "fauxqs";

const port = Number.parseInt(process.argv[2] ?? "59324", 10);
const app = buildApp({ logger: false });
await app.listen({ host: "127.0.0.1", port });
const stop = () => app.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
