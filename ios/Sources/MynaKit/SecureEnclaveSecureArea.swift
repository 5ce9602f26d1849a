import Foundation
#if canImport(CryptoKit) && canImport(Security)
import CryptoKit
import Security

/// The core's secure area over the Secure Enclave: P-256 keys whose private
/// half never leaves it. CryptoKit's `SecureEnclave.P256.Signing.PrivateKey`
/// gives a `dataRepresentation` that only this device's enclave can use;
/// it is kept in the Keychain (this device only, after first unlock) under
/// the alias.
///
/// The reset app's installation key asks for no user authentication: it
/// proves this installation, not the user's presence (the card, its secret
/// and the face check do that: R2, R4). The wallet's device keys (issue 9)
/// add an access control with user presence; that is their job.
///
/// Public keys are SEC1 uncompressed (`x963Representation`, 65 bytes);
/// signatures raw `r‖s` (`rawRepresentation`, 64 bytes), SHA-256 inside.
/// Unverified: there is no Swift toolchain here; scripts/suites/swift.sh
/// checks syntax and the API it calls only.
public final class SecureEnclaveSecureArea: SecureArea, @unchecked Sendable {
    private let service: String

    /// Keys under the Keychain service `service`.
    public init(service: String = "jp.mynakit.secure-area") {
        self.service = service
    }

    public func createKey(alias: String) async throws -> Data {
        guard SecureEnclave.isAvailable else {
            throw SecureAreaError.Unavailable(reason: "this device has no Secure Enclave")
        }
        let key: SecureEnclave.P256.Signing.PrivateKey
        do {
            key = try SecureEnclave.P256.Signing.PrivateKey()
        } catch {
            throw SecureAreaError.Unavailable(reason: error.localizedDescription)
        }
        _ = try deleteItem(alias)
        try addItem(alias, key.dataRepresentation)
        return key.publicKey.x963Representation
    }

    public func publicKey(alias: String) async throws -> Data? {
        guard let blob = try readItem(alias) else { return nil }
        return try privateKey(alias, blob).publicKey.x963Representation
    }

    public func sign(alias: String, message: Data) async throws -> Data {
        guard let blob = try readItem(alias) else { throw SecureAreaError.KeyNotFound(alias: alias) }
        do {
            return try privateKey(alias, blob).signature(for: message).rawRepresentation
        } catch let error as SecureAreaError {
            throw error
        } catch {
            throw SecureAreaError.Unavailable(reason: error.localizedDescription)
        }
    }

    public func deleteKey(alias: String) async throws -> Bool {
        try deleteItem(alias)
    }

    private func privateKey(_ alias: String, _ blob: Data) throws -> SecureEnclave.P256.Signing.PrivateKey {
        do {
            return try SecureEnclave.P256.Signing.PrivateKey(dataRepresentation: blob)
        } catch {
            // The blob no longer opens in this enclave (restored backup, reset device).
            throw SecureAreaError.KeyInvalidated(alias: alias)
        }
    }

    private func query(_ alias: String) -> [String: Any] {
        [kSecClass as String: kSecClassGenericPassword,
         kSecAttrService as String: service,
         kSecAttrAccount as String: alias]
    }

    private func addItem(_ alias: String, _ blob: Data) throws {
        var item = query(alias)
        item[kSecValueData as String] = blob
        item[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(item as CFDictionary, nil)
        guard status == errSecSuccess else {
            throw SecureAreaError.Unavailable(reason: "Keychain add failed: \(status)")
        }
    }

    private func readItem(_ alias: String) throws -> Data? {
        var item = query(alias)
        item[kSecReturnData as String] = true
        item[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: AnyObject?
        let status = SecItemCopyMatching(item as CFDictionary, &result)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let data = result as? Data else {
            throw SecureAreaError.Unavailable(reason: "Keychain read failed: \(status)")
        }
        return data
    }

    private func deleteItem(_ alias: String) throws -> Bool {
        let status = SecItemDelete(query(alias) as CFDictionary)
        if status == errSecItemNotFound { return false }
        guard status == errSecSuccess else {
            throw SecureAreaError.Unavailable(reason: "Keychain delete failed: \(status)")
        }
        return true
    }
}
#endif
