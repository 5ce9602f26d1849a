package jp.mynakit.test

import kotlin.system.exitProcess
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

/** Every test class of the Kotlin suite. */
val TEST_CLASSES = listOf(
    OperationsTest::class.java,
    PinGuardTest::class.java,
    LinkFailureTest::class.java,
    AsyncTest::class.java,
    EntryPointTest::class.java,
    IsoDepTransportTest::class.java,
)

/**
 * Runs the suite and prints `N passed, N failed` last (the line CI reads);
 * exits non-zero on any failure or when no test ran.
 */
fun main() {
    var passed = 0
    var failed = 0
    val core = JUnitCore()
    core.addListener(object : RunListener() {
        private var ok = true
        override fun testStarted(description: Description) {
            ok = true
        }
        override fun testFailure(failure: Failure) {
            ok = false
            println("FAIL ${failure.description.className.substringAfterLast('.')}.${failure.description.methodName}")
            println(failure.trace.prependIndent("    "))
        }
        override fun testAssumptionFailure(failure: Failure) = testFailure(failure)
        override fun testFinished(description: Description) {
            if (ok) {
                passed++
                println("ok   ${description.className.substringAfterLast('.')}.${description.methodName}")
            } else {
                failed++
            }
        }
    })
    core.run(*TEST_CLASSES.toTypedArray())
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
