import { limitsSuite } from "./limits.ts";
import { behaviourSuite } from "./suite.ts";
import { webSuite } from "./web.ts";

behaviourSuite("bun");
limitsSuite("bun");
webSuite("bun");
