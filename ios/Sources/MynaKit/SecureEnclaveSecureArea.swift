import Foundation
#if canImport(CryptoKit) && canImport(Security) && canImport(LocalAuthentication)
import CryptoKit
import LocalAuthentication
import Security

/// The core's secure area over the Secure Enclave: P-256 keys whose private
/// half never leaves it, kept as permanent Keychain keys
/// (`kSecAttrTokenIDSecureEnclave`) under the tag `<service>.<alias>`.
///
/// Keys as the core's `KeySpec` asks:
/// - `everyUse` (W10): an access control from
///   `SecAccessControlCreateWithFlags(kSecAttrAccessibleWhenUnlockedThisDeviceOnly,
///   [.privateKeyUsage, .userPresence])`: the system asks for Face ID, Touch
///   ID or the passcode before every signature (no reuse window: each
///   operation gets a fresh `LAContext`). Creating one without a passcode
///   set is `NoUserAuthentication`.
/// - `none`: `[.privateKeyUsage]`, `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`
///   (the reset app's installation key proves this installation, not the
///   user: R2 and R4 do that).
/// - `sign`: `SecKeyCreateSignature(.ecdsaSignatureMessageX962SHA256)`,
///   whose DER is turned into raw `r‖s`; `keyAgreement`:
///   `SecKeyCopyKeyExchangeResult(.ecdhKeyExchangeStandard)`, the shared
///   x-coordinate. The Secure Enclave does not bind a key to one purpose: the
///   purpose and user authentication are recorded in the key's label and
///   enforced here.
/// - Attestation: **none**. The Secure Enclave gives no attestation chain for
///   such keys (App Attest is a different, app-integrity service), so
///   `KeyInfo.attestation` is always empty; the security level is
///   `secureEnclave`.
///
/// Failures: `errSecUserCanceled` / `LAError.userCancel` (and the system or
/// app cancelling) are `UserCancelled`; `errSecAuthFailed` /
/// `LAError.authenticationFailed` / biometry lock-out `UserAuthenticationFailed`;
/// `LAError.passcodeNotSet` `NoUserAuthentication`. iOS does not invalidate
/// `.userPresence` keys when biometrics change; a key that no longer opens
/// in this enclave (restored backup) is `KeyInvalidated`.
///
/// Unverified: there is no Swift toolchain here; scripts/suites/swift.sh
/// checks syntax and the API it calls only (Security and LocalAuthentication
/// names taken on trust). Build and run on a device before relying on it.
public final class SecureEnclaveSecureArea: SecureArea, @unchecked Sendable {
    private let service: String
    private let prompt: String

    /// Keys tagged `service.<alias>`; `prompt` is the reason the system
    /// shows when a key asks for the user.
    public init(service: String = "jp.mynakit.secure-area",
                prompt: String = "Use your My Number card record") {
        self.service = service
        self.prompt = prompt
    }

    public func createKey(alias: String, spec: KeySpec) async throws -> KeyInfo {
        guard SecureEnclave.isAvailable else {
            throw SecureAreaError.Unavailable(reason: "this device has no Secure Enclave")
        }
        let everyUse = spec.userAuthentication == .everyUse
        if everyUse {
            var laError: NSError?
            guard LAContext().canEvaluatePolicy(.deviceOwnerAuthentication, error: &laError) else {
                throw SecureAreaError.NoUserAuthentication
            }
        }
        let flags: SecAccessControlCreateFlags = everyUse ? [.privateKeyUsage, .userPresence] : [.privateKeyUsage]
        let accessible = everyUse ? kSecAttrAccessibleWhenUnlockedThisDeviceOnly : kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(kCFAllocatorDefault, accessible, flags, &error) else {
            throw Self.failure(error, alias: alias)
        }
        _ = try deleteItem(alias)
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: tag(alias),
                kSecAttrLabel as String: Self.label(spec.purpose, spec.userAuthentication),
                kSecAttrAccessControl as String: access,
            ] as [String: Any],
        ]
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw Self.failure(error, alias: alias)
        }
        return try info(key, purpose: spec.purpose, userAuthentication: spec.userAuthentication, alias: alias)
    }

    public func keyInfo(alias: String) async throws -> KeyInfo? {
        guard let found = try readKey(alias, context: nil) else { return nil }
        let (key, purpose, userAuthentication) = found
        return try info(key, purpose: purpose, userAuthentication: userAuthentication, alias: alias)
    }

    public func sign(alias: String, message: Data) async throws -> Data {
        let key = try usableKey(alias, purpose: .sign)
        var error: Unmanaged<CFError>?
        // The system prompt (for an `everyUse` key) shows here.
        guard let der = SecKeyCreateSignature(key, .ecdsaSignatureMessageX962SHA256, message as CFData, &error) else {
            throw Self.failure(error, alias: alias)
        }
        do {
            return try P256.Signing.ECDSASignature(derRepresentation: der as Data).rawRepresentation
        } catch {
            throw SecureAreaError.Unavailable(reason: "the Secure Enclave's signature is not DER ECDSA")
        }
    }

    public func keyAgreement(alias: String, peerPublicKey: Data) async throws -> Data {
        // CryptoKit checks that the point is on P-256 (an off-curve point would leak key bits).
        guard (try? P256.KeyAgreement.PublicKey(x963Representation: peerPublicKey)) != nil else {
            throw SecureAreaError.Unavailable(reason: "the peer's public key is not a P-256 point")
        }
        let peerAttributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeyClass as String: kSecAttrKeyClassPublic,
            kSecAttrKeySizeInBits as String: 256,
        ]
        var error: Unmanaged<CFError>?
        guard let peer = SecKeyCreateWithData(peerPublicKey as CFData, peerAttributes as CFDictionary, &error) else {
            throw SecureAreaError.Unavailable(reason: "the peer's public key is not a P-256 point")
        }
        let key = try usableKey(alias, purpose: .keyAgreement)
        guard let shared = SecKeyCopyKeyExchangeResult(key, .ecdhKeyExchangeStandard, peer, [:] as CFDictionary, &error) else {
            throw Self.failure(error, alias: alias)
        }
        return shared as Data
    }

    public func deleteKey(alias: String) async throws -> Bool {
        try deleteItem(alias)
    }

    // MARK: - Keychain

    private func tag(_ alias: String) -> Data { Data("\(service).\(alias)".utf8) }

    private static func label(_ purpose: KeyPurpose, _ userAuthentication: UserAuthentication) -> String {
        "mynakit:\(purpose == .sign ? "sign" : "agree"):\(userAuthentication == .everyUse ? "every-use" : "none")"
    }

    private func query(_ alias: String) -> [String: Any] {
        [kSecClass as String: kSecClassKey,
         kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
         kSecAttrApplicationTag as String: tag(alias)]
    }

    /// The key with its recorded purpose and user authentication; a fresh
    /// `context` per use so that no earlier authentication is reused.
    private func readKey(_ alias: String, context: LAContext?) throws -> (SecKey, KeyPurpose, UserAuthentication)? {
        var item = query(alias)
        item[kSecReturnRef as String] = true
        item[kSecReturnAttributes as String] = true
        item[kSecMatchLimit as String] = kSecMatchLimitOne
        if let context { item[kSecUseAuthenticationContext as String] = context }
        var result: AnyObject?
        let status = SecItemCopyMatching(item as CFDictionary, &result)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let found = result as? [String: Any],
              let ref = found[kSecValueRef as String] else {
            throw SecureAreaError.Unavailable(reason: "Keychain read failed: \(status)")
        }
        let label = found[kSecAttrLabel as String] as? String ?? ""
        let parts = label.split(separator: ":")
        guard parts.count == 3, parts[0] == "mynakit" else {
            throw SecureAreaError.Unavailable(reason: "the key \(alias) was not made by MynaKit")
        }
        let purpose: KeyPurpose = parts[1] == "agree" ? .keyAgreement : .sign
        let userAuthentication: UserAuthentication = parts[2] == "every-use" ? .everyUse : .none
        // A kSecClassKey item's reference is a SecKey (a CF type: the cast cannot fail).
        return (ref as! SecKey, purpose, userAuthentication)
    }

    private func usableKey(_ alias: String, purpose: KeyPurpose) throws -> SecKey {
        let context = LAContext()
        context.localizedReason = prompt
        guard let found = try readKey(alias, context: context) else {
            throw SecureAreaError.KeyNotFound(alias: alias)
        }
        let (key, keyPurpose, _) = found
        guard keyPurpose == purpose else { throw SecureAreaError.WrongPurpose(alias: alias) }
        return key
    }

    private func info(_ key: SecKey, purpose: KeyPurpose, userAuthentication: UserAuthentication,
                      alias: String) throws -> KeyInfo {
        var error: Unmanaged<CFError>?
        guard let publicKey = SecKeyCopyPublicKey(key),
              let sec1 = SecKeyCopyExternalRepresentation(publicKey, &error) else {
            // The reference no longer opens in this enclave (restored backup, reset device).
            throw SecureAreaError.KeyInvalidated(alias: alias)
        }
        return KeyInfo(publicKey: sec1 as Data, purpose: purpose, userAuthentication: userAuthentication,
                       securityLevel: .secureEnclave, attestation: [])
    }

    private func deleteItem(_ alias: String) throws -> Bool {
        let status = SecItemDelete(query(alias) as CFDictionary)
        if status == errSecItemNotFound { return false }
        guard status == errSecSuccess else {
            throw SecureAreaError.Unavailable(reason: "Keychain delete failed: \(status)")
        }
        return true
    }

    /// A Security / LocalAuthentication failure as the core's error.
    static func failure(_ error: Unmanaged<CFError>?, alias: String) -> SecureAreaError {
        guard let error = error?.takeRetainedValue() else {
            return SecureAreaError.Unavailable(reason: "the Secure Enclave failed")
        }
        let nsError = error as Error as NSError
        return mapped(domain: nsError.domain, code: nsError.code, alias: alias, description: nsError.localizedDescription)
    }

    /// The core's error for a Security (`NSOSStatusErrorDomain`) or
    /// LocalAuthentication (`LAErrorDomain`) error code.
    static func mapped(domain: String, code: Int, alias: String, description: String) -> SecureAreaError {
        if domain == LAErrorDomain {
            switch code {
            case LAError.userCancel.rawValue, LAError.appCancel.rawValue, LAError.systemCancel.rawValue,
                 LAError.userFallback.rawValue:
                return .UserCancelled
            case LAError.authenticationFailed.rawValue, LAError.biometryLockout.rawValue:
                return .UserAuthenticationFailed
            case LAError.passcodeNotSet.rawValue:
                return .NoUserAuthentication
            default:
                return .Unavailable(reason: description)
            }
        }
        switch OSStatus(truncatingIfNeeded: code) {
        case errSecUserCanceled:
            return .UserCancelled
        case errSecAuthFailed:
            return .UserAuthenticationFailed
        case errSecItemNotFound:
            return .KeyNotFound(alias: alias)
        default:
            return .Unavailable(reason: description)
        }
    }
}
#endif
