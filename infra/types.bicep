// Parameter shapes shared by main.bicep and its modules.

@export()
@description('A key vault holding an Atlas EAR key.')
type watchedVault = {
  @description('Subscription of the vault.')
  subscriptionId: string
  @description('Resource group of the vault.')
  resourceGroupName: string
  @description('Vault name.')
  name: string
  @description('How a restore may write on this vault. Default both, so a vault flipped between permission models can still be restored; drop one to narrow the rights further.')
  restoreWith: ('rbac' | 'accessPolicy')[]?
}

@export()
@description('A subscription whose management-plane changes are delivered as events.')
type watchedSubscription = {
  subscriptionId: string
  @description('Existing resource group in that subscription that holds its Event Grid system topic.')
  resourceGroupName: string
}
