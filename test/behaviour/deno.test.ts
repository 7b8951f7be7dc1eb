import { behaviourSuite } from "./suite.ts";

behaviourSuite("deno");
