#!/bin/sh
# /usr/bin/oci-psp-hook of the RPM. cargo-generate-rpm packages regular files
# only, no symbolic link (the .deb has a link here), and a link made by a
# scriptlet would be a file no package owns: so a wrapper, which runs the
# binary under its own name (the runtimes run the binary directly, from the
# hooks.d file).
exec /usr/libexec/oci/hooks.d/oci-psp-hook "$@"
