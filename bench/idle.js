// A bare runtime process doing nothing: the baseline for the supervisor's memory.
console.error("idle");
setInterval(() => {}, 60_000);
