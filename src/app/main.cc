#include "app/commands.h"

int main(int argc, char** argv) { return dr::app::main_entry(argc, argv); }
