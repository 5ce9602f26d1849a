// swift-tools-version:5.9
// MynaKit for iOS: the Rust core as an XCFramework (MynaKitFFI, built by
// scripts/build-xcframework.sh on a Mac), the generated Swift bindings and
// CoreNfcTransport. Build the XCFramework first; it also writes the
// generated bindings to Sources/MynaKit/Generated/.
import PackageDescription

let package = Package(
    name: "MynaKit",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "MynaKit", targets: ["MynaKit"]),
    ],
    targets: [
        .binaryTarget(name: "MynaKitFFI", path: "MynaKitFFI.xcframework"),
        .target(
            name: "MynaKit",
            dependencies: ["MynaKitFFI"],
            path: "Sources/MynaKit",
            linkerSettings: [.linkedFramework("CoreNFC", .when(platforms: [.iOS]))]
        ),
        // Needs an XCFramework built with `--sandbox` (the virtual card).
        .testTarget(name: "MynaKitTests", dependencies: ["MynaKit"], path: "Tests/MynaKitTests"),
    ]
)
