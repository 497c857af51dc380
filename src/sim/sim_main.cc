#include <cstdio>

int main() { std::puts("deposit-gateway-sim: not written yet"); return 1; }
