import { limitsSuite } from "./limits.ts";
import { behaviourSuite } from "./suite.ts";
import { webSuite } from "./web.ts";

behaviourSuite("deno");
limitsSuite("deno");
webSuite("deno");
