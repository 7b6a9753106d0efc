"""The C backend: target c. Generated C (edgekit's table layout, TL2cgen's if-else, dense layers),
the toolchain table, and the harness that runs a build natively, under qemu-user or on a board."""
