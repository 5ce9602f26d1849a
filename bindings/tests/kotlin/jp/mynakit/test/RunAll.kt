package jp.mynakit.test

import kotlin.system.exitProcess
import org.junit.platform.engine.TestExecutionResult
import org.junit.platform.engine.discovery.DiscoverySelectors.selectClass
import org.junit.platform.launcher.TestExecutionListener
import org.junit.platform.launcher.TestIdentifier
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder
import org.junit.platform.launcher.core.LauncherFactory

/** Every test class of the Kotlin suite. */
val TEST_CLASSES = listOf(
    OperationsTest::class.java,
    PinGuardTest::class.java,
    LinkFailureTest::class.java,
    AsyncTest::class.java,
    CancellationTest::class.java,
    TrustTest::class.java,
    EntryPointTest::class.java,
    IsoDepTransportTest::class.java,
    AuthorityLinkTest::class.java,
    SecureAreaTest::class.java,
    PinResetTest::class.java,
    WalletTest::class.java,
    WalletLifecycleTest::class.java,
    PortalTest::class.java,
    PortalLifecycleTest::class.java,
)

/**
 * Runs the suite on the JUnit Platform (Jupiter engine) and prints
 * `N passed, N failed` last (the line CI reads); exits non-zero on any
 * failure or when no test ran.
 */
fun main() {
    var passed = 0
    var failed = 0
    val listener = object : TestExecutionListener {
        override fun executionFinished(id: TestIdentifier, result: TestExecutionResult) {
            val name = id.displayName.removeSuffix("()")
            when {
                !id.isTest && result.status == TestExecutionResult.Status.SUCCESSFUL -> Unit
                result.status == TestExecutionResult.Status.SUCCESSFUL -> {
                    passed++
                    println("ok   $name")
                }
                else -> {
                    // A failing test, or a class that could not run at all.
                    failed++
                    println("FAIL ${if (id.isTest) name else "container ${id.displayName}"}")
                    result.throwable.ifPresent { println(it.stackTraceToString().prependIndent("    ")) }
                }
            }
        }
    }
    val request = LauncherDiscoveryRequestBuilder.request()
        .selectors(TEST_CLASSES.map { selectClass(it) })
        .build()
    LauncherFactory.create().execute(request, listener)
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
