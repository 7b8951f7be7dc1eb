import { limitsSuite } from "./limits.ts";
import { operationsSuite } from "./operations.ts";
import { behaviourSuite } from "./suite.ts";
import { webSuite } from "./web.ts";

behaviourSuite("bun");
limitsSuite("bun");
webSuite("bun");
operationsSuite("bun");
