#include <cstdio>

int main() { std::puts("deposit-reconciler: not wired yet"); return 1; }
