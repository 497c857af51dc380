SET jit = off;
